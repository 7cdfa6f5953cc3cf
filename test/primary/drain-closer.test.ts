// DrainCloser: asks each worker to close its share of a draining broker's clients at the configured rate
// (fractions carried from tick to tick); nothing for brokers not draining, without a rate, or emptied.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DrainCloser } from '../../src/primary/drain-closer.ts';
import { BrokerTable } from '../../src/brokers/broker-table.ts';
import type { BrokerConfig } from '../../src/config/resolved.ts';

const b = (name: string, more: Partial<BrokerConfig>): BrokerConfig => ({ name, host: '127.0.0.1', port: 1, address: `127.0.0.1:${name.length}`, weight: 1, proxyProtocol: 'none', drain: false, ...more });

test('5 a second over 2 workers: one close per worker every other tick (200 ms); only for draining brokers with clients', () => {
  const table = new BrokerTable(BrokerTable.allocate(4));
  for (const i of [0, 1, 2, 3]) table.connectionOpened(i);
  const brokers = [b('drained', { drain: true, drainCloseRate: 5 }), b('removed', { removed: true, weight: 0, drainCloseRate: 20 }), b('live', { drainCloseRate: 5 }), b('norate', { drain: true })];
  const asked: [number, number][] = [];
  const closer = new DrainCloser(table, () => brokers, 2, (broker, count) => asked.push([broker, count]));
  closer.stop(); // driven by hand
  for (let t = 0; t < 5; t++) closer.tick(); // one second
  const per = (slot: number) => asked.filter(([s]) => s === slot).reduce((n, [, c]) => n + c, 0);
  assert.is(per(0), 2, '5/s: 2 per worker in a second (the fifth close carries over)');
  assert.is(per(1), 10, '20/s: 10 per worker in a second');
  assert.is(per(2) + per(3), 0, 'not draining, or no rate: nothing');
  table.connectionClosed(0);
  asked.length = 0;
  for (let t = 0; t < 5; t++) closer.tick();
  assert.is(per(0), 0, 'no clients left: nothing asked');
});

test.run();
