// Tests for src/metrics/counters.ts: the slot layout, exact folds across wraps and byte batches, slots
// retired after a dead worker, and real worker threads counting while the primary folds.
// This file is also the worker's entry: run as a worker thread it counts in its slot and reports back.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Counters, CounterTotals, counterNames, counterWord, wideCounterNames, kCellWords, kSlotUsedWords, kSlotWords,
  kWideHiField, kWideLoField, kWideSeqField, kWideWords, kMaxEventAdd, type CounterName,
} from '../../src/metrics/counters.ts';
import { kMaxWorkers } from '../../src/limits/worker-shares.ts';
import { runSelfAsWorker } from '../helpers/self-worker.ts';

/** A worker's job: `events` adds spread over `eventNames`, and a byte add of `byteSize` every `byteEvery` events. */
type Job = { sab: SharedArrayBuffer; workerId: number; events: number; byteEvery: number; byteSize: number };

const eventNames: CounterName[] = ['connections_accepted', 'connections_closed', 'sticky_hits'];

function workerMain(job: Job): void {
  const counters = new Counters(job.sab, job.workerId);
  let byteAdds = 0;
  for (let i = 0; i < job.events; i++) {
    counters.add(eventNames[i % eventNames.length]);
    if (job.byteEvery > 0 && i % job.byteEvery === 0) { counters.add('bytes_client_to_broker', job.byteSize); byteAdds++; }
  }
  parentPort!.postMessage(byteAdds);
}

const runWorker = (job: Job) => runSelfAsWorker<number>(import.meta.url, job);
const two32 = 2 ** 32;

/** The expected counts of `job`, per event name. */
function expectedEvents(job: Pick<Job, 'events'>): Record<string, number> {
  const out: Record<string, number> = {};
  eventNames.forEach((n, i) => { out[n] = Math.floor(job.events / eventNames.length) + (i < job.events % eventNames.length ? 1 : 0); });
  return out;
}

if (!isMainThread) {
  workerMain(workerData as Job);
} else {
  test('layout: cells do not overlap, wide cells have three words, slots are a cache line apart at least', () => {
    const words = new Set<number>();
    counterNames.forEach((n, i) => {
      const width = (wideCounterNames as readonly string[]).includes(n) ? kWideWords : 1;
      for (let j = 0; j < width; j++) words.add(kCellWords[i] + j);
    });
    assert.equal([...words].sort((a, b) => a - b), Array.from({ length: kSlotUsedWords }, (_, i) => i));
    assert.equal([kWideSeqField, kWideLoField, kWideHiField].sort(), [0, 1, 2]);
    assert.is(kSlotWords % 16, 0, 'slots start 64-byte aligned relative to each other');
    assert.ok(kSlotWords - kSlotUsedWords >= 16, 'a whole unwritten cache line between two workers\' words');
    assert.is(Counters.allocate().byteLength, kMaxWorkers * kSlotWords * 4);
    assert.is(counterWord(2, 'connections_accepted'), kSlotWords);
  });

  test('fresh totals are zero; the primary counts its own events straight into the totals', () => {
    const totals = new CounterTotals(Counters.allocate(4));
    assert.is(totals.maxWorkers, 4);
    const s = totals.snapshot();
    assert.equal(Object.keys(s), [...counterNames]);
    assert.ok(Object.values(s).every((v) => v === 0));
    totals.add('admin_requests');
    totals.add('connections_dropped_worker_exit', 7);
    assert.is(totals.snapshot().admin_requests, 1);
    assert.is(totals.snapshot().connections_dropped_worker_exit, 7);
  });

  test('bad ids, buffers and adds are refused', () => {
    const sab = Counters.allocate(4);
    assert.throws(() => new Counters(sab, 0), RangeError);
    assert.throws(() => new Counters(sab, 5), RangeError);
    assert.throws(() => new Counters(new SharedArrayBuffer(100), 1), /not a counters buffer/);
    assert.throws(() => new CounterTotals(new SharedArrayBuffer(0)), /not a counters buffer/);
    assert.throws(() => new CounterTotals(sab).retire(5), RangeError);
    const c = new Counters(sab, 1);
    for (const n of [-1, 0.5, kMaxEventAdd + 1, NaN]) assert.throws(() => c.add('connections_accepted', n), RangeError, `event add ${n}`);
    for (const n of [-1, 0.5, 2 ** 53, Infinity]) assert.throws(() => c.add('bytes_broker_to_client', n), RangeError, `byte add ${n}`);
    assert.is(new CounterTotals(sab).snapshot().connections_accepted, 0, 'a refused add counts nothing');
  });

  test('each worker writes its own slot only', () => {
    const sab = Counters.allocate(4);
    new Counters(sab, 3).add('refused_no_broker', 5);
    const words = new Int32Array(sab);
    const at = counterWord(3, 'refused_no_broker');
    words.forEach((v, i) => assert.is(v, i === at ? 5 : 0, `word ${i}`));
  });

  test('wrap-around: a cell passing 2^32 (and the int32 sign) between two folds stays exact', () => {
    const sab = Counters.allocate(2);
    const words = new Int32Array(sab);
    const totals = new CounterTotals(sab);
    const c = new Counters(sab, 2);
    const at = counterWord(2, 'connections_accepted');
    // As if worker 2 had counted 2^31 - 3 events: the next adds cross the int32 sign.
    words[at] = 2 ** 31 - 3;
    assert.is(totals.snapshot().connections_accepted, 2 ** 31 - 3);
    for (let i = 0; i < 10; i++) c.add('connections_accepted');
    assert.is(totals.snapshot().connections_accepted, 2 ** 31 + 7);
    // ... and 2^32 - 5 (stored as int32 -5): ten more wrap the cell to 5.
    words[at] = -5;
    totals.fold();
    const before = totals.snapshot().connections_accepted;
    for (let i = 0; i < 10; i++) c.add('connections_accepted');
    assert.is(words[at], 5, 'the cell wrapped');
    assert.is(totals.snapshot().connections_accepted, before + 10);
    // The most a cell may move between two folds: 2^32 - 1 (from 5 to 4, once round).
    words[at] = 4;
    assert.is(totals.snapshot().connections_accepted, before + 10 + two32 - 1);
  });

  test('bytes: a batch of 5e9, one of 2^52 + 1, and two batches between folds stay exact', () => {
    const sab = Counters.allocate(1);
    const totals = new CounterTotals(sab);
    const c = new Counters(sab, 1);
    c.add('bytes_client_to_broker', 5e9);
    assert.is(totals.snapshot().bytes_client_to_broker, 5e9);
    c.add('bytes_client_to_broker', 5e9);
    c.add('bytes_client_to_broker', 5e9 + 7); // 1.5e10 + 7 in the cell: three wraps of its low word
    assert.is(totals.snapshot().bytes_client_to_broker, 1.5e10 + 7);
    const at = counterWord(1, 'bytes_client_to_broker');
    const words = new Int32Array(sab);
    assert.is((words[at + kWideHiField] >>> 0) * two32 + (words[at + kWideLoField] >>> 0), 1.5e10 + 7);
    assert.is(words[at + kWideSeqField] % 2, 0, 'no write in progress');
    c.add('bytes_broker_to_client', 2 ** 52 + 1);
    c.add('bytes_broker_to_client', 2 ** 32 - 1);
    assert.is(totals.snapshot().bytes_broker_to_client, 2 ** 52 + 2 ** 32);
    assert.is(totals.snapshot().bytes_client_to_broker, 1.5e10 + 7, 'the other byte counter untouched');
  });

  test('a write in progress is not read: the fold keeps the last value and takes the write next time', () => {
    const sab = Counters.allocate(1);
    const words = new Int32Array(sab);
    const totals = new CounterTotals(sab);
    new Counters(sab, 1).add('bytes_client_to_broker', 100);
    assert.is(totals.snapshot().bytes_client_to_broker, 100);
    // A writer stopped between its stores: odd sequence, low half new, high half old.
    const at = counterWord(1, 'bytes_client_to_broker');
    words[at + kWideSeqField] += 1;
    words[at + kWideLoField] = 50;
    assert.is(totals.snapshot().bytes_client_to_broker, 100);
    words[at + kWideHiField] = 1;
    words[at + kWideSeqField] += 1;
    assert.is(totals.snapshot().bytes_client_to_broker, two32 + 50);
  });

  test('a retired slot: the dead worker\'s last counts are folded, the slot is zero, its replacement counts exactly', async () => {
    const sab = Counters.allocate(2);
    const totals = new CounterTotals(sab);
    new Counters(sab, 1).add('connections_accepted', 3); // a neighbour that lives on
    const first: Job = { sab, workerId: 2, events: 300_000, byteEvery: 1000, byteSize: 3e9 };
    // The primary folds while the first worker counts, so what it last saw of the slot is not zero.
    let folds = 0;
    const folding = setInterval(() => { totals.fold(); folds++; }, 1);
    const firstBytes = await runWorker(first);
    clearInterval(folding);
    assert.ok(folds > 0);
    totals.retire(2);
    new Int32Array(sab).forEach((v, i) => { if (i >= kSlotWords) assert.is(v, 0, `slot 2 word ${i - kSlotWords} zeroed`); });
    const replacement: Job = { sab, workerId: 2, events: 1000, byteEvery: 100, byteSize: 5 };
    const replacementBytes = await runWorker(replacement);
    const s = totals.snapshot();
    const e1 = expectedEvents(first);
    const e2 = expectedEvents(replacement);
    for (const n of eventNames) assert.is(s[n], e1[n] + e2[n] + (n === 'connections_accepted' ? 3 : 0), n);
    assert.is(s.bytes_client_to_broker, firstBytes * 3e9 + replacementBytes * 5);
    // Retiring after the replacement (its counts already folded), then once more: the totals stay.
    totals.retire(2);
    totals.retire(2);
    assert.equal(totals.snapshot(), s);
  });

  test('4 worker threads counting at once while the primary folds: every snapshot monotone and whole, totals exact', async () => {
    const sab = Counters.allocate(8);
    const totals = new CounterTotals(sab);
    // Byte adds of a size above 2^32, so every add carries into the high word: a torn read of the two
    // halves would be off by 2^32 and no longer a whole number of adds.
    const byteSize = 3 * 2 ** 31 + 7;
    const jobs: Job[] = [1, 2, 5, 8].map((workerId) => ({ sab, workerId, events: 600_000 + workerId, byteEvery: 500, byteSize }));
    let done = false;
    const running = Promise.all(jobs.map(runWorker)).finally(() => { done = true; });
    let last = totals.snapshot();
    let snapshots = 0;
    while (!done) {
      const s = totals.snapshot();
      for (const n of counterNames) assert.ok(s[n] >= last[n], `${n} went back: ${last[n]} -> ${s[n]}`);
      assert.is(s.bytes_client_to_broker % byteSize, 0, 'bytes are a whole number of adds');
      last = s;
      snapshots++;
      await new Promise((r) => setImmediate(r));
    }
    const byteAdds = await running;
    const s = totals.snapshot();
    for (const n of eventNames) assert.is(s[n], jobs.reduce((sum, j) => sum + expectedEvents(j)[n], 0), n);
    assert.is(s.bytes_client_to_broker, byteAdds.reduce((a, b) => a + b, 0) * byteSize);
    assert.ok(snapshots > 10, `folded while they counted (${snapshots} snapshots)`);
  });

  test.run();
}
