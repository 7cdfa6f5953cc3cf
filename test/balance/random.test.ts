// Tests for src/balance/random.ts: weighted random order.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RandomSelector } from '../../src/balance/random.ts';
import type { BuildContext, RouteKey } from '../../src/balance/strategy.ts';
import { BrokerTable } from '../../src/brokers/broker-table.ts';
import { hashKey } from '../../src/hash.ts';
import { mulberry32 } from '../helpers/random.ts';

function ctxOf(weights: number[], seed = 1): BuildContext {
  return { brokers: weights.map((weight, i) => ({ name: `b${i}`, weight })), brokerTable: new BrokerTable(BrokerTable.allocate(8)), random: mulberry32(seed) };
}

const key: RouteKey = { text: 'any', hash: hashKey('any') };

function firstShares(weights: number[], picks: number): number[] {
  const selector = new RandomSelector(ctxOf(weights));
  const counts = weights.map(() => 0);
  for (let n = 0; n < picks; n++) counts[selector.candidates(key)[0]]++;
  return counts.map((c) => c / picks);
}

test('weights 1,2,3: the first candidate is each broker ~1/6, 2/6, 3/6 of 100k times', () => {
  const shares = firstShares([1, 2, 3], 100_000);
  [1 / 6, 2 / 6, 3 / 6].forEach((expected, i) => assert.ok(Math.abs(shares[i] - expected) < 0.01, `broker ${i}: ${shares[i]}`));
});

test('equal weights: uniform over 5 brokers', () => {
  const shares = firstShares([1, 1, 1, 1, 1], 100_000);
  for (const share of shares) assert.ok(Math.abs(share - 0.2) < 0.01, `${share}`);
});

test('candidates: every broker with weight > 0, each once; weight 0 never', () => {
  const selector = new RandomSelector(ctxOf([1, 0, 2, 0, 3]));
  for (let n = 0; n < 200; n++) assert.equal([...selector.candidates(key)].sort(), [0, 2, 4]);
  assert.equal(new RandomSelector(ctxOf([0, 0])).candidates(key), []);
});

test('the random source is injected: the same seed gives the same orders', () => {
  const a = new RandomSelector(ctxOf([1, 2, 3], 42));
  const b = new RandomSelector(ctxOf([1, 2, 3], 42));
  for (let n = 0; n < 100; n++) assert.equal(a.candidates(key), b.candidates(key));
});

test.run();
