// Tests for src/metrics/counters.ts: a worker's add allocates nothing (no BigInt, no number box). Its own
// file, so no other test's garbage or threads are in the heap while it measures.
import { GCProfiler } from 'node:v8';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Counters, CounterTotals, type CounterName } from '../../src/metrics/counters.ts';

const adds = 1_000_000;
const names: CounterName[] = ['connections_accepted', 'connections_forwarded', 'connections_closed', 'sticky_hits', 'refused_no_broker'];

/** Garbage collections (any kind) and heap growth while `run` does its `adds` adds. */
function measure(run: () => void): { gcs: number; heapGrowth: number } {
  run(); // warm up: compiled code, inline caches and heap all settled before measuring
  const profiler = new GCProfiler();
  profiler.start();
  const before = process.memoryUsage().heapUsed;
  run();
  const after = process.memoryUsage().heapUsed;
  const gcs = profiler.stop()?.statistics.length ?? -1;
  return { gcs, heapGrowth: after - before };
}

test('control: the old shape (a BigInt per add on a shared BigInt64Array) is seen allocating', () => {
  const cells = new BigInt64Array(new SharedArrayBuffer(8 * names.length));
  const add = (i: number, n = 1) => { Atomics.add(cells, i, BigInt(n)); };
  const m = measure(() => { for (let i = 0; i < adds; i++) add(i % names.length); });
  // A BigInt is at least 16 bytes: 16 MB over the run, so the young generation is collected.
  assert.ok(m.gcs > 0, `the probe sees allocation (${JSON.stringify(m)})`);
});

test(`Counters.add: ${adds} event adds, no garbage collection and no heap growth`, () => {
  const sab = Counters.allocate(2);
  const counters = new Counters(sab, 2);
  const m = measure(() => { for (let i = 0; i < adds; i++) counters.add(names[i % names.length]); });
  assert.is(m.gcs, 0, `no collection during the adds (${JSON.stringify(m)})`);
  assert.ok(m.heapGrowth < 256 * 1024, `heap grew ${m.heapGrowth} bytes`);
  assert.is(new CounterTotals(sab).snapshot().connections_accepted, (2 * adds) / names.length, 'and every add counted');
});

test.run();
