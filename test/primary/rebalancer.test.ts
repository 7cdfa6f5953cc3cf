// Rebalancer: a broker that comes up (its upSince changes) gets its weighted share of the forwarded clients
// moved to it at the configured rate, split over the workers; it ends when the broker holds its share or
// stops gaining clients; nothing at start, nothing with rate 0, nothing for a broker that takes no clients.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Rebalancer } from '../../src/primary/rebalancer.ts';
import { BrokerTable } from '../../src/brokers/broker-table.ts';
import type { BrokerConfig } from '../../src/config/resolved.ts';

const b = (name: string, more: Partial<BrokerConfig> = {}): BrokerConfig => ({ name, host: '127.0.0.1', port: 1, address: `127.0.0.1:${name.length}`, weight: 1, proxyProtocol: 'none', drain: false, ...more });

function harness(rate: number, brokers: BrokerConfig[]) {
  const table = new BrokerTable(BrokerTable.allocate(4));
  const lines: string[] = [];
  const log = pino(new Writable({ write(chunk, _e, done) { lines.push(JSON.parse(String(chunk)).msg); done(); } }));
  const asked: [number, number][] = [];
  const settings = { rate };
  const r = new Rebalancer(table, () => brokers, () => settings.rate, 2, (broker, count) => asked.push([broker, count]), log);
  r.stop(); // driven by hand
  const open = (i: number, n: number) => { for (let k = 0; k < n; k++) table.connectionOpened(i); };
  const askedOf = (slot: number) => asked.filter(([s]) => s === slot).reduce((n, [, c]) => n + c, 0);
  return { table, lines, asked, settings, r, open, askedOf };
}

test('a broker that comes up: 10/s over 2 workers until it holds its share (a third of 300 clients)', () => {
  const h = harness(10, [b('a'), b('b'), b('c')]);
  h.open(0, 150);
  h.open(1, 150);
  h.r.tick(); // start: what is up now is not news
  assert.is(h.asked.length, 0);
  h.table.markUp(2, 1234);
  for (let t = 0; t < 5; t++) h.r.tick(); // one second
  assert.ok(h.lines.includes('rebalance started: moving clients homed on a broker that came up'));
  assert.equal(h.asked.map(([s]) => s), [2, 2, 2, 2, 2], 'each tick asks the workers for broker 2');
  assert.is(h.askedOf(2), 5, '10/s, 2 a tick: 1 per worker a tick');
  // The moved clients reconnect to it; at 100 of 300 (its share) the rebalance ends.
  for (let k = 0; k < 100; k++) { h.table.connectionClosed(k % 2); h.table.connectionOpened(2); }
  h.asked.length = 0;
  h.r.tick();
  assert.is(h.asked.length, 0);
  assert.ok(h.lines.includes('rebalance ended: it holds its share'));
});

test('it ends when the broker stops gaining clients (none homed on it is left elsewhere)', () => {
  const h = harness(10, [b('a'), b('b')]);
  h.open(0, 100);
  h.r.tick();
  h.table.markUp(1, 99);
  for (let t = 0; t < 5000 / 200 + 1; t++) h.r.tick(); // 5 s and a tick, and nobody came
  assert.ok(h.lines.includes('rebalance ended: no more clients homed on it are elsewhere'));
  const before = h.asked.length;
  h.r.tick();
  assert.is(h.asked.length, before, 'nothing asked once ended');
});

test('rate 0, or a broker that takes no clients (draining, down): nothing', () => {
  const brokers = [b('a'), b('b', { drain: true }), b('c')];
  const h = harness(0, brokers);
  h.open(0, 100);
  h.r.tick();
  h.table.markUp(1, 5);
  h.table.markUp(2, 5);
  h.table.setHealthy(2, false);
  for (let t = 0; t < 10; t++) h.r.tick();
  assert.is(h.asked.length, 0, 'rate 0');
  // Turning the rate on later does not take those old come-ups for new ones.
  h.settings.rate = 10;
  h.table.setHealthy(2, true);
  for (let t = 0; t < 10; t++) h.r.tick();
  assert.is(h.asked.length, 0);
});

test.run();
