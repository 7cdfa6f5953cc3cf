// Tests for src/brokers/broker-table.ts: flags, generations, and counters shared by real worker threads.
// This file is also the worker's entry: run as a worker thread it hammers the table and reports back.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BrokerTable } from '../../src/brokers/broker-table.ts';
import { MAX_BROKERS } from '../../src/brokers/layout.ts';
import { runSelfAsWorker } from '../helpers/self-worker.ts';

type Job = { sab: SharedArrayBuffer; opens: number; closes: number; tickets: number };

const kBrokers = 4;

function workerMain(job: Job): void {
  const table = new BrokerTable(job.sab);
  for (let n = 0; n < job.opens; n++) table.connectionOpened(n % kBrokers);
  for (let n = 0; n < job.closes; n++) table.connectionClosed(n % kBrokers);
  const tickets = new Uint32Array(job.tickets);
  for (let n = 0; n < job.tickets; n++) tickets[n] = table.nextRoundRobin();
  parentPort!.postMessage(tickets, [tickets.buffer]);
}

const runWorker = (job: Job) => runSelfAsWorker<Uint32Array>(import.meta.url, job);

if (!isMainThread) {
  workerMain(workerData as Job);
} else {
  test('a fresh table: healthy, not draining, no connections, generation 0', () => {
    const table = new BrokerTable(BrokerTable.allocate());
    assert.is(table.maxBrokers, MAX_BROKERS);
    for (const i of [0, 1, MAX_BROKERS - 1]) {
      assert.ok(table.isHealthy(i));
      assert.not.ok(table.isDraining(i));
      assert.is(table.liveConnections(i), 0);
      assert.is(table.generation(i), 0);
    }
    assert.is(table.totalLive(), 0);
  });

  test('health and draining are independent bits', () => {
    const table = new BrokerTable(BrokerTable.allocate(8));
    table.setHealthy(3, false);
    table.setDraining(3, true);
    assert.equal([table.isHealthy(3), table.isDraining(3)], [false, true]);
    table.setHealthy(3, true);
    assert.equal([table.isHealthy(3), table.isDraining(3)], [true, true]);
    table.setDraining(3, false);
    table.setHealthy(3, false);
    assert.equal([table.isHealthy(3), table.isDraining(3)], [false, false]);
    assert.ok(table.isHealthy(2) && table.isHealthy(4), 'neighbours untouched');
  });

  test('generation bumps per slot; another view of the same buffer sees them', () => {
    const sab = BrokerTable.allocate(4);
    const a = new BrokerTable(sab);
    const b = new BrokerTable(sab);
    a.bumpGeneration(1);
    a.bumpGeneration(1);
    assert.is(b.generation(1), 2);
    assert.is(b.generation(0), 0);
  });

  test('bad buffers and indexes are refused at the boundary', () => {
    assert.throws(() => new BrokerTable(new SharedArrayBuffer(64)), /not a broker table/);
    assert.throws(() => BrokerTable.allocate(0), RangeError);
    assert.throws(() => BrokerTable.allocate(MAX_BROKERS + 1), RangeError);
    const table = new BrokerTable(BrokerTable.allocate(4));
    assert.throws(() => table.connectionOpened(4), RangeError);
    assert.throws(() => table.liveConnections(-1), RangeError);
  });

  test('2 worker threads: live counts add up exactly and round-robin tickets are all distinct', async () => {
    const sab = BrokerTable.allocate(kBrokers);
    const opens = 200_000;
    const closes = 80_000;
    const tickets = 50_000;
    const results = await Promise.all([0, 1].map(() => runWorker({ sab, opens, closes, tickets })));
    const table = new BrokerTable(sab);
    for (let i = 0; i < kBrokers; i++) assert.is(table.liveConnections(i), (2 * (opens - closes)) / kBrokers, `broker ${i}`);
    assert.is(table.totalLive(), 2 * (opens - closes));
    const all = new Set<number>();
    for (const r of results) for (const t of r) all.add(t);
    assert.is(all.size, 2 * tickets, 'no ticket handed out twice');
    assert.is(Math.max(...all), 2 * tickets - 1);
    assert.is(table.nextRoundRobin(), 2 * tickets);
  });

  test.run();
}
