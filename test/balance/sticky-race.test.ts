// Sticky first placements under a real race: four worker threads place the same new keys at the same
// time, each with a fallback that prefers a different broker (random, seeded per worker). Every worker
// must end up on the broker of the one pin, and none may wait (Atomics.wait throws in the workers once
// they race). This file is also the workers' entry point.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hashKey } from '../../src/hash.ts';
import { BrokerTable } from '../../src/brokers/broker-table.ts';
import { StickyTable } from '../../src/sticky/table.ts';
import { buildSelector } from '../../src/balance/index.ts';
import { SelectionCursor } from '../../src/balance/cursor.ts';
import { mulberry32 } from '../helpers/random.ts';
import { runSelfAsWorker } from '../helpers/self-worker.ts';

type Job = { seed: number; keys: number; brokers: SharedArrayBuffer; sticky: SharedArrayBuffer; gate: SharedArrayBuffer };
const brokerNames = ['a', 'b', 'c', 'd', 'e'];

if (!isMainThread) {
  const job = workerData as Job;
  const selector = buildSelector('sticky', {
    brokers: brokerNames.map((name) => ({ name, weight: 1 })),
    brokerTable: new BrokerTable(job.brokers),
    stickyTable: new StickyTable(job.sticky),
    stickyTtlSec: 600,
    stickyFallback: 'random',
    random: mulberry32(job.seed),
    nowSec: () => 1000,
  });
  const keys = Array.from({ length: job.keys }, (_, i) => ({ text: `race-${i}`, hash: hashKey(`race-${i}`) }));
  const cursor = new SelectionCursor();
  const gate = new Int32Array(job.gate);
  Atomics.wait(gate, 0, 0); // start together: the point is to race
  // From here on this thread is a data-plane worker: placement must never wait.
  Atomics.wait = () => {
    throw new Error('Atomics.wait called while placing');
  };
  const chosen = new Int8Array(job.keys);
  for (let i = 0; i < job.keys; i++) {
    chosen[i] = selector.first(keys[i], cursor); // what placement connects to first
    selector.placed?.(keys[i], chosen[i]);
  }
  parentPort!.postMessage(chosen);
} else {
  test('four workers placing the same new keys at once all follow one pin per key', async () => {
    const keys = 20_000;
    const brokers = BrokerTable.allocate();
    const sticky = StickyTable.allocate(1 << 16);
    const gate = new SharedArrayBuffer(4);
    const results = [1, 2, 3, 4].map((seed) => runSelfAsWorker<Int8Array>(import.meta.url, { seed, keys, brokers, sticky, gate } satisfies Job));
    await new Promise((r) => setTimeout(r, 300)); // let every worker reach the gate
    Atomics.store(new Int32Array(gate), 0, 1);
    Atomics.notify(new Int32Array(gate), 0);
    const chosen = await Promise.all(results);
    const table = new StickyTable(sticky);
    let disagreements = 0;
    let differentFirstChoices = 0;
    for (let i = 0; i < keys; i++) {
      const pin = table.lookup(hashKey(`race-${i}`), 1000, 600)!.broker;
      if (chosen.some((c) => c[i] !== pin)) disagreements++;
      if (new Set(chosen.map((c) => c[i])).size > 1) differentFirstChoices++;
    }
    assert.is(disagreements, 0, 'every worker placed every key on its pinned broker');
    assert.is(differentFirstChoices, 0);
    console.log('    sticky table after the race:', table.stats());
  });

  test.run();
}
