// Unit tests: the per-reason log rate limit.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { RateLimitedLog } from '../src/log.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk))); cb(); } });
  return { lines, log: pino({ level: 'info' }, sink) };
}

test('at most N lines a second per reason; the next window reports the suppressed count', async () => {
  const { lines, log } = capture();
  const limited = new RateLimitedLog(log, 3);
  for (let i = 0; i < 10; i++) limited.warn('too_large', { i }, 'refused', 1000);
  limited.warn('timeout', {}, 'other reason has its own budget', 1000);
  limited.warn('too_large', { i: 99 }, 'refused', 2100);
  await new Promise((r) => setImmediate(r));
  const tooLarge = lines.filter((l) => l.reason === 'too_large');
  assert.equal(tooLarge.map((l) => l.i ?? l.suppressed), [0, 1, 2, 7, 99]);
  assert.is(lines.filter((l) => l.reason === 'timeout').length, 1);
});

test.run();
