// ServiceNotify: takes NOTIFY_SOCKET and WATCHDOG_* out of the environment (children never see them),
// sends nothing without a socket, keeps the watchdog for its own pid only, and logs at most three
// failed sends.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { ServiceNotify } from '../../src/primary/service-notify.ts';

function harness(env: NodeJS.ProcessEnv, failing = false) {
  const sent: [string, string][] = [];
  const warnings: string[] = [];
  const log = pino(new Writable({ write(chunk, _e, done) { warnings.push(JSON.parse(String(chunk)).msg); done(); } }));
  const notify = new ServiceNotify(log, env, (socket, message) => { sent.push([socket, message]); return failing ? 'ECONNREFUSED' : undefined; });
  return { sent, warnings, notify };
}

test('the variables leave the environment; messages go to the socket', () => {
  const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: '@sd', WATCHDOG_USEC: '0', OTHER: 'x' };
  const h = harness(env);
  assert.equal(env, { OTHER: 'x' });
  assert.ok(h.notify.active);
  h.notify.ready('serving');
  h.notify.stopping('draining');
  assert.equal(h.sent, [['@sd', 'READY=1\nSTATUS=serving'], ['@sd', 'STOPPING=1\nSTATUS=draining']]);
  h.notify.stop();
});

test('no NOTIFY_SOCKET: nothing sent, not active', () => {
  const h = harness({});
  h.notify.ready('x');
  h.notify.reloading();
  assert.equal(h.sent, []);
  assert.not.ok(h.notify.active);
});

test("the watchdog runs at half WATCHDOG_USEC for this pid, never for another's", async () => {
  const mine = harness({ NOTIFY_SOCKET: '/run/n', WATCHDOG_USEC: '40000', WATCHDOG_PID: String(process.pid) });
  const theirs = harness({ NOTIFY_SOCKET: '/run/n', WATCHDOG_USEC: '40000', WATCHDOG_PID: '1' });
  mine.notify.ready('up');
  theirs.notify.ready('up');
  await new Promise((r) => setTimeout(r, 110));
  mine.notify.stop();
  theirs.notify.stop();
  const dogs = mine.sent.filter(([, m]) => m === 'WATCHDOG=1').length;
  assert.ok(dogs >= 3 && dogs <= 6, `every 20 ms over 110 ms: ${dogs}`);
  assert.is(theirs.sent.filter(([, m]) => m === 'WATCHDOG=1').length, 0);
});

test('failed sends: three warnings, then quiet', () => {
  const h = harness({ NOTIFY_SOCKET: '/run/n' }, true);
  for (let i = 0; i < 6; i++) h.notify.reloading();
  assert.is(h.sent.length, 6);
  assert.equal(h.warnings, ['systemd notification not sent', 'systemd notification not sent', 'systemd notification not sent']);
});

test.run();
