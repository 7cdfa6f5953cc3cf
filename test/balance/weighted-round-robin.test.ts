// Tests for src/balance/weighted-round-robin.ts: nginx's smooth weighted round-robin.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BuildContext, RouteKey } from '../../src/balance/strategy.ts';
import { WeightedRoundRobinSelector } from '../../src/balance/weighted-round-robin.ts';
import { BrokerTable } from '../../src/brokers/broker-table.ts';
import { hashKey } from '../../src/hash.ts';

function ctxOf(weights: number[]): BuildContext {
  return { brokers: weights.map((weight, i) => ({ name: `b${i}`, weight })), brokerTable: new BrokerTable(BrokerTable.allocate(8)) };
}

const key: RouteKey = { text: 'any', hash: hashKey('any') };
const names = ['a', 'b', 'c', 'd'];

test("weights {a:5, b:1, c:1}: nginx's sequence a a b a c a a, repeating", () => {
  const selector = new WeightedRoundRobinSelector(ctxOf([5, 1, 1]));
  const picks = Array.from({ length: 14 }, () => names[selector.candidates(key)[0]]).join(' ');
  assert.is(picks, 'a a b a c a a a a b a c a a');
});

test('weights 1,2,3 over 100k picks: exactly 1/6, 2/6, 3/6 per full cycle', () => {
  const selector = new WeightedRoundRobinSelector(ctxOf([1, 2, 3]));
  const counts = [0, 0, 0];
  for (let n = 0; n < 99_996; n++) counts[selector.candidates(key)[0]]++; // 16666 cycles of 6
  assert.equal(counts, [16_666, 33_332, 49_998]);
});

test('smooth: a heavy broker is interleaved, never picked many times in a row', () => {
  const selector = new WeightedRoundRobinSelector(ctxOf([3, 1]));
  const picks = Array.from({ length: 8 }, () => names[selector.candidates(key)[0]]).join('');
  assert.is(picks, 'aaba'.repeat(2));
});

test('candidates: the pick first, then every other broker with weight > 0, once; weight 0 never', () => {
  const selector = new WeightedRoundRobinSelector(ctxOf([2, 0, 1, 1]));
  for (let n = 0; n < 20; n++) {
    const order = selector.candidates(key);
    assert.equal([...order].sort(), [0, 2, 3]);
  }
  assert.equal(new WeightedRoundRobinSelector(ctxOf([0])).candidates(key), []);
});

test('the fallback order is who is due next: after the pick, the highest current weight', () => {
  const selector = new WeightedRoundRobinSelector(ctxOf([5, 1, 1]));
  // After the first pick (a): current weights a=-2, b=1, c=1 -> b then c (tie by index), then a.
  assert.equal(selector.candidates(key), [0, 1, 2]);
  // Second pick (a): a=-4, b=2, c=2.
  assert.equal(selector.candidates(key), [0, 1, 2]);
  // Third pick (b): a=1, b=-4, c=3 -> c, a.
  assert.equal(selector.candidates(key), [1, 2, 0]);
});

test.run();
