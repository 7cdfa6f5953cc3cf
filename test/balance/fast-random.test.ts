// Tests for src/balance/fast-random.ts: xoshiro128** on int32 words, 30-bit results.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FastRandom, kRange30 } from '../../src/balance/fast-random.ts';

test('30-bit integers, spread evenly over 16 buckets; the same seed gives the same stream', () => {
  const a = new FastRandom([1, 2, 3, 4]);
  const b = new FastRandom([1, 2, 3, 4]);
  const buckets = new Array<number>(16).fill(0);
  for (let n = 0; n < 160_000; n++) {
    const x = a.next30();
    assert.ok(Number.isInteger(x) && x >= 0 && x < kRange30, `${x}`);
    assert.is(b.next30(), x);
    buckets[x >>> 26]++;
  }
  for (const count of buckets) assert.ok(Math.abs(count - 10_000) < 500, `${buckets}`);
});

test('an all-zero seed is moved off the fixed point; default seeds differ', () => {
  const zero = new FastRandom([0, 0, 0, 0]);
  assert.ok(new Set(Array.from({ length: 10 }, () => zero.next30())).size > 1);
  assert.is.not(new FastRandom().next30(), new FastRandom().next30());
});

test.run();
