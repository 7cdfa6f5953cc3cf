// Tests for src/balance/round-robin.ts: plain rotation on a counter shared through the broker table.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RoundRobinSelector } from '../../src/balance/round-robin.ts';
import type { BuildContext, RouteKey } from '../../src/balance/strategy.ts';
import { BrokerTable } from '../../src/brokers/broker-table.ts';
import { hashKey } from '../../src/hash.ts';

function ctxOf(weights: number[], brokerTable = new BrokerTable(BrokerTable.allocate(8))): BuildContext {
  return { brokers: weights.map((weight, i) => ({ name: `b${i}`, weight })), brokerTable };
}

const key: RouteKey = { text: 'any', hash: hashKey('any') };

test('rotation: each call starts one further, the rest follow in order', () => {
  const selector = new RoundRobinSelector(ctxOf([1, 1, 1]));
  assert.equal(selector.candidates(key), [0, 1, 2]);
  assert.equal(selector.candidates(key), [1, 2, 0]);
  assert.equal(selector.candidates(key), [2, 0, 1]);
  assert.equal(selector.candidates(key), [0, 1, 2]);
});

test('100k picks over 3 brokers: counts differ by at most 1; weights are ignored (plain), except 0', () => {
  const selector = new RoundRobinSelector(ctxOf([1, 5, 0, 2]));
  const counts = [0, 0, 0, 0];
  for (let n = 0; n < 100_000; n++) counts[selector.candidates(key)[0]]++;
  assert.equal(counts, [33_334, 33_333, 0, 33_333]);
});

test('two workers (two selectors, each its own view of one broker table buffer) share one rotation', () => {
  const sab = BrokerTable.allocate(8);
  const a = new RoundRobinSelector(ctxOf([1, 1, 1], new BrokerTable(sab)));
  const b = new RoundRobinSelector(ctxOf([1, 1, 1], new BrokerTable(sab)));
  assert.equal([a.candidates(key)[0], b.candidates(key)[0], a.candidates(key)[0], b.candidates(key)[0]], [0, 1, 2, 0]);
});

test('no brokers with weight > 0: no candidates', () => {
  assert.equal(new RoundRobinSelector(ctxOf([0, 0])).candidates(key), []);
});

test.run();
