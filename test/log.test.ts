// Unit tests: the per-reason log rate limit; the two formats (JSON lines, readable lines for a terminal),
// both with secrets redacted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, RateLimitedLog, resolveLogFormat } from '../src/log.ts';

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

/** What a logger of `format` writes for one line with secrets in it. */
function written(format: 'json' | 'pretty'): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-log-'));
  try {
    const fd = openSync(join(dir, 'out'), 'w');
    const log = createLogger('info', { worker: 3 }, format, fd);
    log.info({ broker: 'm1', password: 'hunter2-pw', creds: { token: 'tok-s3cret', key: 'PRIVATE KEY' }, authorization: 'Bearer abc-secret' }, 'broker marked up');
    log.flush();
    closeSync(fd);
    return readFileSync(join(dir, 'out'), 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('JSON lines and readable lines; secrets redacted in both', () => {
  const json = written('json');
  const line = JSON.parse(json) as Record<string, unknown>;
  assert.equal([line.msg, line.broker, line.worker, line.password], ['broker marked up', 'm1', 3, '[redacted]']);
  const coloured = written('pretty');
  assert.match(coloured, /\x1b\[\d+m/, 'coloured');
  const text = coloured.replace(/\x1b\[[0-9;]*m/g, '');
  assert.not.ok(text.startsWith('{'), 'not JSON');
  assert.match(text, /INFO/);
  assert.match(text, /broker marked up/);
  assert.match(text, /broker: "m1"/);
  for (const out of [json, text]) assert.not.match(out, /hunter2-pw|tok-s3cret|PRIVATE KEY|abc-secret/);
});

test('auto is readable on a terminal, JSON elsewhere; json and pretty are as asked', () => {
  assert.is(resolveLogFormat('auto', true), 'pretty');
  assert.is(resolveLogFormat('auto', false), 'json');
  assert.is(resolveLogFormat('json', true), 'json');
  assert.is(resolveLogFormat('pretty', false), 'pretty');
});

test.run();
