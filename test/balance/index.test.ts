// Tests for src/balance/index.ts: every strategy builds through buildSelector and keeps the Selector contract.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildSelector } from '../../src/balance/index.ts';
import type { BuildContext, StrategyName } from '../../src/balance/strategy.ts';
import { BrokerTable } from '../../src/brokers/broker-table.ts';
import { hashKey } from '../../src/hash.ts';
import { StickyTable } from '../../src/sticky/table.ts';

const names: StrategyName[] = ['random', 'round-robin', 'weighted-round-robin', 'least-connections', 'consistent-hash', 'sticky'];

function ctxOf(weights: number[]): BuildContext {
  return {
    brokers: weights.map((weight, i) => ({ name: `b${i}`, weight })),
    brokerTable: new BrokerTable(BrokerTable.allocate(8)),
    stickyTable: new StickyTable(StickyTable.allocate(1024)),
  };
}

test('every strategy: candidates are the brokers with weight > 0, each exactly once', () => {
  for (const name of names) {
    const selector = buildSelector(name, ctxOf([2, 0, 1, 3, 0]));
    for (let i = 0; i < 200; i++) {
      const key = { text: `k${i}`, hash: hashKey(`k${i}`) };
      assert.equal([...selector.candidates(key)].sort(), [0, 2, 3], name);
      selector.placed?.(key, selector.candidates(key)[0]);
    }
  }
});

test('every strategy: no broker with weight > 0 gives no candidates (not an exception)', () => {
  for (const name of names) assert.equal(buildSelector(name, ctxOf([0, 0])).candidates({ text: 'x', hash: hashKey('x') }), [], name);
  for (const name of names) assert.equal(buildSelector(name, ctxOf([])).candidates({ text: 'x', hash: hashKey('x') }), [], name);
});

test('bad broker sets are refused at build time', () => {
  for (const weight of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => buildSelector('random', ctxOf([1, weight])), /weight must be/);
  }
  assert.throws(() => buildSelector('round-robin', ctxOf(Array.from({ length: 9 }, () => 1))), /do not fit/);
  assert.throws(() => buildSelector('nope' as StrategyName, ctxOf([1])), /unknown balancing strategy/);
});

test.run();
