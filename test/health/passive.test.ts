// PassiveHealth: failed connects in a row (counted by workers in the broker table) mark a broker down;
// without active checks it comes back after the cooldown, with them the checks take it over.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { PassiveHealth } from '../../src/health/passive.ts';
import { BrokerTable } from '../../src/brokers/broker-table.ts';
import type { BrokerConfig } from '../../src/config/resolved.ts';
import type { CounterName } from '../../src/metrics/counters.ts';

const brokers: BrokerConfig[] = ['a', 'b'].map((name, i) => ({ name, host: '127.0.0.1', port: 3000 + i, address: `127.0.0.1:${3000 + i}`, weight: 1, proxyProtocol: 'none', drain: false }));

function harness() {
  const lines: Record<string, unknown>[] = [];
  const log = pino(new Writable({ write(chunk, _e, done) { lines.push(JSON.parse(String(chunk))); done(); } }));
  const counts: Partial<Record<CounterName, number>> = {};
  const counters = { add(name: CounterName, n = 1) { counts[name] = (counts[name] ?? 0) + n; } };
  const table = new BrokerTable(BrokerTable.allocate(4));
  return { table, lines, counts, passive: new PassiveHealth(table, { failures: 3, cooldownMs: 100 }, log, counters) };
}

test('failures in a row mark a broker down; a success in between starts the run again; back after the cooldown', async () => {
  const h = harness();
  h.passive.follow(brokers, undefined);
  h.table.connectFailed(1);
  h.table.connectFailed(1);
  h.table.connectSucceeded(1);
  h.table.connectFailed(1);
  h.passive.scan();
  assert.is(h.table.isHealthy(1), true, 'a success broke the run');
  h.table.connectFailed(1);
  h.table.connectFailed(1);
  h.passive.scan();
  assert.is(h.table.isHealthy(1), false);
  assert.is(h.table.isHealthy(0), true);
  assert.is(h.counts.broker_marked_down, 1);
  assert.is(h.table.connectFailStreak(1), 0, 'the count starts again');
  const down = h.lines.find((l) => l.msg === 'broker marked down: its connects fail or its CONNACKs refuse clients; no new clients are placed on it');
  assert.equal(down && [down.broker, down.failuresInARow, down.back], ['b', 3, 'in 100ms']);
  await new Promise((r) => setTimeout(r, 160));
  assert.is(h.table.isHealthy(1), true, 'up after the cooldown');
  assert.is(h.counts.broker_marked_up, 1);
  h.passive.stop();
});

test('the bound is published in the table for the workers (0 once stopped)', () => {
  const h = harness();
  assert.is(h.table.passiveFailures(), 3, 'workers read it: a placement then judges the CONNACK');
  h.passive.stop();
  assert.is(h.table.passiveFailures(), 0);
});

test('with active checks the broker is handed to them (no cooldown)', async () => {
  const h = harness();
  const marked: number[] = [];
  h.passive.follow(brokers, { markDown: (i) => { marked.push(i); return true; } });
  for (let k = 0; k < 3; k++) h.table.connectFailed(0);
  h.passive.scan();
  assert.equal(marked, [0]);
  await new Promise((r) => setTimeout(r, 160));
  assert.is(h.table.isHealthy(0), false, 'stays down until the probes bring it back');
  h.passive.stop();
});

test.run();
