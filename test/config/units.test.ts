// Unit tests: duration, size and host:port parsing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseDurationMs, parseHostPort, parseSizeBytes } from '../../src/config/units.ts';

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
  assert.equal(parseHostPort(':1883'), { host: '0.0.0.0', port: 1883 });
  assert.is(parseHostPort('127.0.0.1'), undefined);
  assert.is(parseHostPort('127.0.0.1:70000'), undefined);
});

test.run();
