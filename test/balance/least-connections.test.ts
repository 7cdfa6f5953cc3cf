// Tests for src/balance/least-connections.ts: fewest live connections per weight, from the broker table.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LeastConnectionsSelector } from '../../src/balance/least-connections.ts';
import type { BuildContext, RouteKey } from '../../src/balance/strategy.ts';
import { BrokerTable } from '../../src/brokers/broker-table.ts';
import { hashKey } from '../../src/hash.ts';
import { mulberry32 } from '../helpers/random.ts';

function ctxOf(weights: number[], live: number[] = []): BuildContext {
  const brokerTable = new BrokerTable(BrokerTable.allocate(8));
  live.forEach((count, i) => {
    for (let n = 0; n < count; n++) brokerTable.connectionOpened(i);
  });
  return { brokers: weights.map((weight, i) => ({ name: `b${i}`, weight })), brokerTable, random: mulberry32(7) };
}

const key: RouteKey = { text: 'any', hash: hashKey('any') };

test('picks the least loaded first, then by load', () => {
  const selector = new LeastConnectionsSelector(ctxOf([1, 1, 1], [5, 2, 9]));
  assert.equal(selector.candidates(key), [1, 0, 2]);
});

test('load is per weight: (live + 1) / weight', () => {
  // (4+1)/1 = 5, (4+1)/2 = 2.5, (4+1)/4 = 1.25
  assert.equal(new LeastConnectionsSelector(ctxOf([1, 2, 4], [4, 4, 4])).candidates(key), [2, 1, 0]);
  // (9+1)/2 = 5 against (3+1)/1 = 4
  assert.equal(new LeastConnectionsSelector(ctxOf([2, 1], [9, 3])).candidates(key), [1, 0]);
});

test('reads live counts at call time: a connection opened elsewhere changes the next answer', () => {
  const ctx = ctxOf([1, 1], [0, 0]);
  const selector = new LeastConnectionsSelector(ctx);
  ctx.brokerTable.connectionOpened(0);
  assert.equal(selector.candidates(key), [1, 0]);
  ctx.brokerTable.connectionOpened(1);
  ctx.brokerTable.connectionOpened(1);
  assert.equal(selector.candidates(key), [0, 1]);
});

test('ties are spread: with equal loads each broker leads about equally often', () => {
  const selector = new LeastConnectionsSelector(ctxOf([1, 1, 1, 1], [3, 3, 3, 3]));
  const counts = [0, 0, 0, 0];
  for (let n = 0; n < 100_000; n++) counts[selector.candidates(key)[0]]++;
  for (const c of counts) assert.ok(Math.abs(c / 100_000 - 0.25) < 0.01, `${counts}`);
});

test('100k placements with weights 1,2,3 (each counted as opened): live counts end ~1/6, 2/6, 3/6', () => {
  const ctx = ctxOf([1, 2, 3]);
  const selector = new LeastConnectionsSelector(ctx);
  for (let n = 0; n < 100_000; n++) ctx.brokerTable.connectionOpened(selector.candidates(key)[0]);
  const live = [0, 1, 2].map((i) => ctx.brokerTable.liveConnections(i));
  [1, 2, 3].forEach((w, i) => assert.ok(Math.abs(live[i] - (100_000 * w) / 6) <= 3, `${live}`));
});

test('candidates: every broker with weight > 0, each once; weight 0 never, however idle', () => {
  const selector = new LeastConnectionsSelector(ctxOf([1, 0, 1], [10, 0, 10]));
  assert.equal([...selector.candidates(key)].sort(), [0, 2]);
});

test.run();
