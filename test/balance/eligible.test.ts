// Tests for src/balance/eligible.ts: the broker set check every strategy starts from.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eligibleBrokers } from '../../src/balance/eligible.ts';
import type { BuildContext } from '../../src/balance/strategy.ts';
import { BrokerTable } from '../../src/brokers/broker-table.ts';

const ctxOf = (weights: number[], maxBrokers = 8): BuildContext => ({
  brokers: weights.map((weight, i) => ({ name: `b${i}`, weight })),
  brokerTable: new BrokerTable(BrokerTable.allocate(maxBrokers)),
});

test('keeps brokers with weight > 0, with their table indexes and weights', () => {
  assert.equal(eligibleBrokers(ctxOf([0, 2, 0, 0.5])), { indexes: [1, 3], weights: [2, 0.5], totalWeight: 2.5 });
  assert.equal(eligibleBrokers(ctxOf([])), { indexes: [], weights: [], totalWeight: 0 });
});

test('refuses negative or non-finite weights and more brokers than the table holds', () => {
  assert.throws(() => eligibleBrokers(ctxOf([1, -0.5])), /broker 1 \(b1\): weight must be/);
  assert.throws(() => eligibleBrokers(ctxOf([Number.NaN])), RangeError);
  assert.throws(() => eligibleBrokers(ctxOf([1, 1, 1], 2)), /3 brokers do not fit a broker table of 2/);
});

test.run();
