// Unit tests: duration, size and host:port parsing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseDurationMs, parseHostPort, parseSizeBytes, readDurationMs, readSizeBytes, showValue } from '../../src/config/units.ts';

test('durations', () => {
  assert.is(parseDurationMs('10s'), 10_000);
  assert.is(parseDurationMs('250ms'), 250);
  assert.is(parseDurationMs('2h'), 7_200_000);
  assert.is(parseDurationMs('1.5m'), 90_000);
  assert.is(parseDurationMs(42), 42);
  assert.is(parseDurationMs('ten seconds'), undefined);
  assert.is(parseDurationMs('-1s'), undefined);
  assert.is(parseDurationMs(-5), undefined);
});

test('sizes', () => {
  assert.is(parseSizeBytes('64KiB'), 65_536);
  assert.is(parseSizeBytes('1MiB'), 1_048_576);
  assert.is(parseSizeBytes('1kb'), 1000);
  assert.is(parseSizeBytes(512), 512);
  assert.is(parseSizeBytes('lots'), undefined);
  assert.is(parseSizeBytes(1.5), undefined);
});

test('host:port', () => {
  assert.equal(parseHostPort('127.0.0.1:1883'), { host: '127.0.0.1', port: 1883 });
  assert.equal(parseHostPort('[::1]:8883'), { host: '::1', port: 8883 });
  // An empty host is every address (dual stack), not 0.0.0.0 (IPv4 only).
  assert.equal(parseHostPort(':1883'), { host: undefined, port: 1883 });
  assert.equal(parseHostPort('localhost:1883'), { host: 'localhost', port: 1883 });
  assert.equal(parseHostPort('127.0.0.1:0'), { host: '127.0.0.1', port: 0 }, 'port 0 parses; the schema refuses it');
  assert.is(parseHostPort('127.0.0.1'), undefined);
  assert.is(parseHostPort('127.0.0.1:70000'), undefined);
});

const reason = (r: { ok: boolean; reason?: string }) => (r.ok ? 'ok' : r.reason!);

test('durations: huge, infinite, NaN and negative values are refused with a reason', () => {
  const hugeDigits = `1${'0'.repeat(400)}`;
  for (const v of [Infinity, NaN, -1, -0.5, '-1s', ' -5ms', `${hugeDigits}ms`, '1e400', '1e3s', '10 s s', '', '0x10s', 2 ** 60]) {
    assert.is(parseDurationMs(v), undefined, `refused: ${String(v)}`);
  }
  assert.match(reason(readDurationMs(Infinity)), /duration too large: Infinity/);
  assert.match(reason(readDurationMs(`${hugeDigits}d`)), /duration too large: "1000/);
  assert.match(reason(readDurationMs(NaN)), /not a duration: NaN/);
  assert.match(reason(readDurationMs(-5)), /negative duration: -5/);
  assert.match(reason(readDurationMs('-1s')), /negative duration: "-1s"/);
  assert.match(reason(readDurationMs('soon')), /not a duration: "soon" \(use e\.g\./);
  // Bare numbers are whole milliseconds; the largest exact number still parses (bounds are per key).
  assert.is(parseDurationMs(42.4), 42);
  assert.is(parseDurationMs(0), 0);
  assert.is(parseDurationMs(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER);
  assert.is(parseDurationMs('30d'), 30 * 86_400_000);
});

test('sizes: huge, infinite, NaN, negative and fractional byte counts are refused with a reason', () => {
  for (const v of [Infinity, NaN, -1, '-1KiB', `1${'0'.repeat(400)}`, '1e400', 0.5, 2 ** 60]) {
    assert.is(parseSizeBytes(v), undefined, `refused: ${String(v)}`);
  }
  assert.match(reason(readSizeBytes(Infinity)), /size too large: Infinity/);
  assert.match(reason(readSizeBytes(NaN)), /not a size: NaN/);
  assert.match(reason(readSizeBytes(-1)), /negative size: -1/);
  assert.match(reason(readSizeBytes(0.5)), /not a whole number of bytes: 0\.5/);
  assert.is(parseSizeBytes('1.5KiB'), 1536);
});

test('values in messages: strings quoted and cut, collections named, never stringified', () => {
  assert.is(showValue('10s'), '"10s"');
  assert.is(showValue(Infinity), 'Infinity');
  assert.is(showValue(NaN), 'NaN');
  assert.ok(showValue('x'.repeat(500)).length <= 60);
  const cycle: unknown[] = [];
  cycle.push(cycle); // what a YAML alias of its own parent builds
  assert.is(showValue(cycle), 'a list');
  assert.is(showValue({ a: 1 }), 'a mapping');
  assert.is(showValue(null), 'null');
});

test.run();
