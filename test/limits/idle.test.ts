// Idle limits: 1.5x the CONNECT keep-alive (none for 0), a fixed duration, or off; the JS sweep ends a
// pair only after its client has sent nothing for the whole limit.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { idleLimitMs } from '../../src/limits/idle.ts';
import { sweepIdle, unwatchIdle, watchIdle } from '../../workers/idle-sweep.ts';
import { parseConfigText } from '../../src/config/load.ts';

test('the limit: 1.5x keep-alive, none for keep-alive 0, a fixed duration, or off', () => {
  assert.is(idleLimitMs('keepalive', 60), 90_000);
  assert.is(idleLimitMs('keepalive', 0), 0);
  assert.is(idleLimitMs('keepalive', 65_535), 98_302_500);
  assert.is(idleLimitMs(5000, 0), 5000);
  assert.is(idleLimitMs('off', 60), 0);
  const limits = (v: string) => parseConfigText(`brokers: [{ name: a, address: 127.0.0.1:1884 }]\nlimits: { idle: ${v} }\n`, 't.yaml').limits.idle;
  assert.equal([limits('keepalive'), limits('off'), limits('90s')], ['keepalive', 'off', 90_000]);
  assert.is(parseConfigText('brokers: [{ name: a, address: 127.0.0.1:1884 }]\n', 't.yaml').limits.idle, 'keepalive', 'the default');
});

test('the sweep: bytes heard restart the count; a pair is idle only after a whole limit of silence', () => {
  const ended: string[] = [];
  const a = watchIdle(1000, () => ended.push('a'));
  const b = watchIdle(1000, () => ended.push('b'));
  const t0 = a.sinceMs;
  b.heard += 10;
  assert.is(sweepIdle(t0 + 600), 0);
  assert.is(sweepIdle(t0 + 1000), 1, 'a: silent for its limit');
  assert.equal(ended, ['a']);
  assert.is(sweepIdle(t0 + 1500), 0, 'b: heard at 600, silent only 900 ms');
  assert.is(sweepIdle(t0 + 1600), 1);
  assert.equal(ended, ['a', 'b']);
  assert.is(sweepIdle(t0 + 5000), 0, 'each pair ends once');
  const c = watchIdle(1000, () => ended.push('c'));
  unwatchIdle(c);
  assert.is(sweepIdle(c.sinceMs + 5000), 0, 'an ended pair is not watched');
});

test.run();
