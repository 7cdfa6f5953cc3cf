// ListenerControl: a reload's listeners go to the workers after the new addresses are claimed and the TLS
// check passed; a worker that cannot listen puts the old list back, gives the new claims up, and the
// reload is refused; removed addresses are given up only once the workers have let them go.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import { createServer } from 'node:net';
import { pino } from 'pino';
import { ListenerControl, type ListenerTls, type ListenerWorkers } from '../../src/primary/listener-control.ts';
import { claimListenAddresses } from '../../src/primary/address-claim.ts';
import { ListenerSlots } from '../../src/primary/listener-slots.ts';
import type { ListenerConfig } from '../../src/config/resolved.ts';
import type { TlsMaterial } from '../../src/tls/material.ts';
import { freePort } from '../helpers/ports.ts';

const log = pino(new Writable({ write(_c, _e, done) { done(); } }));
const listener = (port: number): ListenerConfig => ({
  bind: { address: `127.0.0.1:${port}`, host: '127.0.0.1', port }, protocol: 'mqtt', tls: undefined, acceptProxyProtocol: false, ws: undefined, clientIdMustMatch: undefined,
});

function fakes(failOn?: number) {
  const sent: number[][] = [];
  const workers: ListenerWorkers = {
    async setListeners(list) {
      sent.push(list.map((l) => l.bind.port));
      const bad = list.find((l) => l.bind.port === failOn);
      return bad ? { address: bad.bind.address, error: 'EACCES' } : undefined;
    },
  };
  const followed: number[][] = [];
  const tls: ListenerTls = {
    material: [],
    check: async (list) => list.map((): TlsMaterial | undefined => undefined),
    follow: (list) => { followed.push(list.map((l) => l.bind.port)); },
    serialized: (fn) => fn(),
  };
  return { sent, followed, workers, tls };
}

/** Count slots with the initial listener committed (the test's `a`, whatever its port). */
function slots(): ListenerSlots {
  return new ListenerSlots(() => {});
}

/** The message `fn` rejects with (the test fails if it resolves). */
async function rejection(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (err) {
    return (err as Error).message;
  }
  assert.unreachable('expected a rejection');
  return '';
}

/** Whether another listener can take the port now (the claim's probe let go, nobody listens). */
async function free(port: number): Promise<boolean> {
  const s = createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

test('added and removed: the workers get the new list; the removed address is given up', async () => {
  const [a, b] = [await freePort(), await freePort()];
  const claim = await claimListenAddresses([listener(a).bind]);
  const f = fakes();
  const control = new ListenerControl([listener(a)], claim, f.workers, f.tls, log, slots());
  await control.apply([listener(b)]);
  assert.equal(f.sent, [[b]]);
  assert.equal(f.followed, [[b]]);
  // The claim on b is held: a second claim of it (another Sluice) fails; a is free to claim again.
  const other = await claimListenAddresses([listener(a).bind]);
  await other.release();
  assert.match(await rejection(() => claimListenAddresses([listener(b).bind])), /already served by another Sluice/);
  await claim.release();
});

test('a worker that cannot listen: the old list goes back, the new claim is given up, the reload throws', async () => {
  const [a, b] = [await freePort(), await freePort()];
  const claim = await claimListenAddresses([listener(a).bind]);
  const f = fakes(b);
  const control = new ListenerControl([listener(a)], claim, f.workers, f.tls, log, slots());
  assert.match(await rejection(() => control.apply([listener(a), listener(b)])), new RegExp(`cannot listen on 127\\.0\\.0\\.1:${b}: EACCES`));
  assert.equal(f.sent, [[a, b], [a]], 'the new list, then the old one again');
  assert.equal(f.followed, [], 'certificate reloads still follow the old list');
  assert.ok(await free(b), 'the claim on the new address was given up');
  await claim.release();
});

test('an address another process holds: refused before any worker is asked', async () => {
  const [a, taken] = [await freePort(), await freePort()];
  const squatter = createServer();
  await new Promise<void>((r) => squatter.listen(taken, '127.0.0.1', r));
  const claim = await claimListenAddresses([listener(a).bind]);
  const f = fakes();
  const control = new ListenerControl([listener(a)], claim, f.workers, f.tls, log, slots());
  assert.match(await rejection(() => control.apply([listener(a), listener(taken)])), /EADDRINUSE/);
  assert.equal(f.sent, []);
  squatter.close();
  await claim.release();
});

test.run();
