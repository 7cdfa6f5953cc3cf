// Tests for src/sticky/table.ts: insert/lookup, record outcomes, TTL and sweep, slot reuse, full windows,
// and real worker threads racing on the same keys. This file is also the workers' entry point.
import { existsSync, readFileSync } from 'node:fs';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type KeyHash, hashKey } from '../../src/hash.ts';
import {
  kHeaderWords,
  kKindFree,
  kKindMask,
  kKindPending,
  kKindPublished,
  kProbeWindow,
  kSlotKeyHiField,
  kSlotKeyLoField,
  kSlotStateField,
  kSlotWords,
  kStaleClaimSec,
  kStateLocked,
} from '../../src/sticky/layout.ts';
import { kClaimBusy, kClaimFull, type RecordResult, StickyTable } from '../../src/sticky/table.ts';
import { writePendingClaim } from '../helpers/sticky-claims.ts';
import { mulberry32 } from '../helpers/random.ts';
import { runSelfAsWorker } from '../helpers/self-worker.ts';

const kTtlSec = 60;
const kRaceChunk = 250;
const kResultCodes: RecordResult[] = ['inserted', 'updated', 'existing', 'full', 'busy'];

/**
 * A key hash whose two home slots are `home1` and `home2` in tables of up to 64k slots; `tag`
 * (in the bits above) tells keys with the same homes apart.
 */
function fakeKey(home1: number, home2: number, tag: number): KeyHash {
  const lo = (home1 | (tag << 16)) >>> 0;
  const hi = (home2 | (tag << 16)) >>> 0;
  return { lo, hi, big: BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)) };
}

/** The slot a key's pin sits in, read from the raw words (-1: none). */
function slotOf(sab: SharedArrayBuffer, capacity: number, key: KeyHash): number {
  const w = new Int32Array(sab);
  for (let slot = 0; slot < capacity; slot++) {
    const i = kHeaderWords + slot * kSlotWords;
    if ((w[i + kSlotStateField] & kKindMask) === kKindPublished && w[i + kSlotKeyLoField] === (key.lo | 0) && w[i + kSlotKeyHiField] === (key.hi | 0)) return slot;
  }
  return -1;
}

/** Every slot's kind, from the raw words: what a quiescent table must look like. */
function slotKinds(sab: SharedArrayBuffer, capacity: number): { published: number; free: number; other: number } {
  const w = new Int32Array(sab);
  const out = { published: 0, free: 0, other: 0 };
  for (let slot = 0; slot < capacity; slot++) {
    const s = w[kHeaderWords + slot * kSlotWords + kSlotStateField];
    if (s & kStateLocked) out.other++;
    else if ((s & kKindMask) === kKindPublished) out.published++;
    else if ((s & kKindMask) === kKindFree) out.free++;
    else out.other++;
  }
  return out;
}

// ---- worker side ----

type RaceJob = { kind: 'race'; sab: SharedArrayBuffer; control: SharedArrayBuffer; results: SharedArrayBuffer; seen: SharedArrayBuffer; workerId: number; workers: number; keys: number };
type ChurnJob = { kind: 'churn'; sab: SharedArrayBuffer; control: SharedArrayBuffer; workerId: number; workers: number; ops: number; keyPool: number };
type ClaimRaceJob = { kind: 'claim-race'; sab: SharedArrayBuffer; control: SharedArrayBuffer; answers: SharedArrayBuffer; workerId: number; workers: number; keys: number };
/** Writes a pending claim of `text` for broker 7 and parks (control[0] = 1), as a descheduled insert; on control[1] = 1 tries its own publish. */
type StalledClaimJob = { kind: 'stalled-claim'; sab: SharedArrayBuffer; control: SharedArrayBuffer; text: string };
type Job = RaceJob | ChurnJob | ClaimRaceJob | StalledClaimJob;

/** Atomics.wait for the duration of `run` throws: claims must never wait (the barriers around it may). */
function withoutWaiting<T>(run: () => T): T {
  const wait = Atomics.wait;
  Atomics.wait = () => {
    throw new Error('Atomics.wait called by a sticky claim');
  };
  try {
    return run();
  } finally {
    Atomics.wait = wait;
  }
}

/** All workers wait here until `count` have arrived (Atomics.wait is allowed in workers). */
function barrier(control: Int32Array, field: number, count: number): void {
  if (Atomics.add(control, field, 1) + 1 === count) Atomics.notify(control, field);
  // Spin first (a waiter woken by notify starts late), then sleep, so the loop is bounded in CPU.
  for (let spin = 0; spin < 200_000 && Atomics.load(control, field) < count; spin++);
  for (let v = Atomics.load(control, field); v < count; v = Atomics.load(control, field)) Atomics.wait(control, field, v, 1000);
}

function raceWorker(job: RaceJob): void {
  const table = new StickyTable(job.sab);
  const control = new Int32Array(job.control);
  const results = new Int8Array(job.results);
  const seen = new Int16Array(job.seen);
  const hashes = Array.from({ length: job.keys }, (_, i) => hashKey(`client-${i}`));
  const now = 1_000;
  // Chunks of kRaceChunk keys, all workers starting each chunk together: the same keys are recorded
  // at the same moment even when the scheduler runs the 4 threads on fewer cores.
  for (let chunk = 0; chunk * kRaceChunk < job.keys; chunk++) {
    barrier(control, 1 + chunk, job.workers);
    const end = Math.min(job.keys, (chunk + 1) * kRaceChunk);
    for (let i = chunk * kRaceChunk; i < end; i++) {
      results[job.workerId * job.keys + i] = kResultCodes.indexOf(table.record(hashes[i], job.workerId, 7, now, kTtlSec));
    }
  }
  barrier(control, 0, job.workers); // every record done before anyone reads back
  for (let i = 0; i < job.keys; i++) seen[job.workerId * job.keys + i] = table.lookup(hashes[i], now, kTtlSec)?.broker ?? -1;
}

function churnWorker(job: ChurnJob): Record<string, number> {
  const table = new StickyTable(job.sab);
  const control = new Int32Array(job.control);
  const random = mulberry32(job.workerId + 1);
  const hashes = Array.from({ length: job.keyPool }, (_, i) => hashKey(`churn-${i}`));
  const counts: Record<string, number> = {};
  const ttlSec = 3;
  barrier(control, 0, job.workers);
  for (let op = 0; op < job.ops; op++) {
    const now = 5_000 + Math.floor(op / 2_000); // time moves, so pins expire and slots are reused under load
    const key = hashes[Math.floor(random() * job.keyPool)];
    const dice = random();
    if (dice < 0.5) {
      const r = table.record(key, job.workerId, 1, now, ttlSec);
      counts[r] = (counts[r] ?? 0) + 1;
    } else if (dice < 0.85) {
      const pin = table.lookup(key, now, ttlSec);
      if (pin && (pin.broker < 0 || pin.broker >= job.workers || pin.generation !== 1)) counts.badPin = (counts.badPin ?? 0) + 1;
    } else if (dice < 0.95) {
      table.touch(key, now);
    } else {
      table.sweep(16, now, ttlSec);
    }
  }
  return counts;
}

function claimRaceWorker(job: ClaimRaceJob): void {
  const table = new StickyTable(job.sab);
  const control = new Int32Array(job.control);
  const answers = new Int8Array(job.answers);
  const hashes = Array.from({ length: job.keys }, (_, i) => hashKey(`claim-${i}`));
  for (let chunk = 0; chunk * kRaceChunk < job.keys; chunk++) {
    barrier(control, 1 + chunk, job.workers);
    const end = Math.min(job.keys, (chunk + 1) * kRaceChunk);
    withoutWaiting(() => {
      for (let i = chunk * kRaceChunk; i < end; i++) answers[job.workerId * job.keys + i] = table.claim(hashes[i], job.workerId, 7, 1_000, kTtlSec);
    });
  }
}

function stalledClaimWorker(job: StalledClaimJob): string {
  const w = new Int32Array(job.sab);
  const control = new Int32Array(job.control);
  const state = writePendingClaim(job.sab, hashKey(job.text), 7, 3, 1_000);
  const pending = Atomics.load(w, state);
  Atomics.store(control, 0, 1);
  Atomics.notify(control, 0);
  while (Atomics.load(control, 1) === 0) Atomics.wait(control, 1, 0, 1000); // descheduled, as far as the others can tell
  // Resumed: the owner's publish CAS, as StickyTable does it after its verify pass.
  const published = Atomics.compareExchange(w, state, pending, (pending & ~(kKindMask | kStateLocked)) | kKindPublished) === pending;
  return published ? 'owner published' : `owner found ${(Atomics.load(w, state) & kKindMask) === kKindPublished ? 'its claim published' : 'its claim gone'}`;
}

const runWorker = (job: Job) => runSelfAsWorker<unknown>(import.meta.url, job);

if (!isMainThread) {
  const job = workerData as Job;
  if (job.kind === 'race') parentPort!.postMessage((raceWorker(job), 'done'));
  else if (job.kind === 'churn') parentPort!.postMessage(churnWorker(job));
  else if (job.kind === 'claim-race') parentPort!.postMessage((claimRaceWorker(job), 'done'));
  else parentPort!.postMessage(stalledClaimWorker(job));
} else {
  test('allocate rounds capacity up to a power of two (at least one probe window); bad input is refused', () => {
    assert.is(new StickyTable(StickyTable.allocate(1000)).capacity, 1024);
    assert.is(new StickyTable(StickyTable.allocate(1024)).capacity, 1024);
    assert.is(new StickyTable(StickyTable.allocate(3)).capacity, kProbeWindow);
    assert.throws(() => StickyTable.allocate(0), RangeError);
    assert.throws(() => StickyTable.allocate(1.5), RangeError);
    assert.throws(() => new StickyTable(new SharedArrayBuffer(1024)), /not a sticky table/);
  });

  if (existsSync('/proc/self/status')) {
    test('allocate commits the whole table at once (its memory shows at start, no faults later)', () => {
      const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
      const before = rss();
      const sab = StickyTable.allocate(1 << 20); // 24 MiB
      const grown = rss() - before;
      assert.ok(grown > 0.9 * sab.byteLength, `RSS grew ${grown} B for a ${sab.byteLength} B table`);
    });
  }

  test('50k keys: all inserted, all found with their broker, absent keys miss', () => {
    const table = new StickyTable(StickyTable.allocate(131_072));
    const n = 50_000;
    for (let i = 0; i < n; i++) assert.is(table.record(hashKey(`c${i}`), i % 7, 3, 100, kTtlSec), 'inserted');
    for (let i = 0; i < n; i++) assert.equal(table.lookup(hashKey(`c${i}`), 100, kTtlSec), { broker: i % 7, generation: 3 });
    for (let i = 0; i < 1000; i++) assert.is(table.lookup(hashKey(`absent${i}`), 100, kTtlSec), undefined);
    assert.is(table.size(), n);
    assert.is(table.entries().length, n);
    assert.is(table.stats().inserts, n);
  });

  test('record outcomes: same pin = existing, another broker or generation = updated', () => {
    const table = new StickyTable(StickyTable.allocate(64));
    const key = hashKey('device-1');
    assert.is(table.record(key, 2, 5, 100, kTtlSec), 'inserted');
    assert.is(table.record(key, 2, 5, 101, kTtlSec), 'existing');
    assert.is(table.record(key, 3, 5, 102, kTtlSec), 'updated');
    assert.equal(table.lookup(key, 102, kTtlSec), { broker: 3, generation: 5 });
    // Generation mismatch handling: the slot was given to a new broker (generation 6); re-placing
    // the client on it replaces the pin, and lookups report the generation the pin was made under.
    assert.is(table.record(key, 3, 6, 103, kTtlSec), 'updated');
    assert.equal(table.lookup(key, 103, kTtlSec), { broker: 3, generation: 6 });
    assert.is(table.size(), 1);
  });

  test('generations are uint32 end to end', () => {
    const table = new StickyTable(StickyTable.allocate(64));
    table.record(hashKey('g'), 1, 0xfffffffe, 100, kTtlSec);
    assert.equal(table.lookup(hashKey('g'), 100, kTtlSec), { broker: 1, generation: 0xfffffffe });
  });

  test('TTL: a pin lives ttl seconds after last-seen; touch extends it; sweep frees it', () => {
    const table = new StickyTable(StickyTable.allocate(64));
    const key = hashKey('sleepy');
    table.record(key, 1, 0, 1_000, 10);
    assert.ok(table.lookup(key, 1_010, 10), 'alive at exactly ttl');
    assert.is(table.lookup(key, 1_011, 10), undefined, 'expired after ttl');
    assert.ok(table.touch(key, 1_011), 'touch revives a pin not yet swept (its client was connected all along)');
    assert.ok(table.lookup(key, 1_021, 10));
    assert.is(table.sweep(64, 1_021, 10), 0, 'nothing expired yet');
    assert.is(table.sweep(64, 1_022, 10), 1);
    assert.is(table.lookup(key, 1_022, 10), undefined);
    assert.not.ok(table.touch(key, 1_022), 'nothing to touch once swept');
    assert.is(table.size(), 0);
    assert.is(table.stats().expired, 1);
  });

  test('recording an expired pin again counts as a new pin in the same slot', () => {
    const table = new StickyTable(StickyTable.allocate(64));
    const key = hashKey('back');
    table.record(key, 1, 0, 1_000, 10);
    assert.is(table.record(key, 4, 0, 2_000, 10), 'inserted');
    assert.equal(table.lookup(key, 2_000, 10), { broker: 4, generation: 0 });
    assert.equal([table.size(), table.stats().inserts, table.stats().expired], [1, 2, 1]);
  });

  test('sweep is incremental: the cursor (shared) resumes where the last sweep stopped, and wraps', () => {
    const sab = StickyTable.allocate(1024);
    const table = new StickyTable(sab);
    for (const slot of [10, 500, 1000]) table.record(fakeKey(slot, 300, 1), 0, 0, 0, 10);
    for (const slot of [10, 500, 1000]) assert.is(slotOf(sab, 1024, fakeKey(slot, 300, 1)), slot);
    assert.is(table.sweep(100, 100, 10), 1, 'slots 0..99');
    assert.is(table.sweep(400, 100, 10), 0, 'slots 100..499');
    assert.is(new StickyTable(sab).sweep(100, 100, 10), 1, 'slots 500..599, from another view of the buffer');
    assert.is(table.sweep(500, 100, 10), 1, 'slots 600..1023 and 0..75');
    assert.is(table.size(), 0);
    assert.is(table.sweep(5000, 100, 10), 0, 'a sweep is clamped to one lap');
  });

  test('one window full => "full", never throws; expired slots in it are reused', () => {
    const table = new StickyTable(StickyTable.allocate(16)); // the window is the whole table
    for (let i = 0; i < 16; i++) assert.is(table.record(hashKey(`f${i}`), 1, 0, 100, 10), 'inserted');
    for (let i = 16; i < 20; i++) assert.is(table.record(hashKey(`f${i}`), 1, 0, 100, 10), 'full');
    assert.is(table.stats().full, 4);
    for (let i = 0; i < 16; i++) assert.ok(table.lookup(hashKey(`f${i}`), 100, 10), 'full never evicts a live pin');
    // Later every pin has expired: new keys take the expired slots without a sweep.
    for (let i = 100; i < 116; i++) assert.is(table.record(hashKey(`f${i}`), 2, 0, 200, 10), 'inserted');
    for (let i = 100; i < 116; i++) assert.equal(table.lookup(hashKey(`f${i}`), 200, 10), { broker: 2, generation: 0 });
    assert.is(table.size(), 16);
    assert.is(table.stats().expired, 16);
  });

  test('an insert goes to the window (of its two) with more room; both fill up, then "full"', () => {
    const sab = StickyTable.allocate(1024);
    const table = new StickyTable(sab);
    const keys = Array.from({ length: kProbeWindow }, (_, tag) => fakeKey(200, 600, tag));
    for (const k of keys) assert.is(table.record(k, 1, 0, 100, 10), 'inserted');
    assert.equal(keys.slice(0, 6).map((k) => slotOf(sab, 1024, k)), [200, 600, 201, 601, 202, 602]);
    assert.is(table.record(fakeKey(200, 600, 99), 1, 0, 100, 10), 'full');
    assert.ok(table.record(fakeKey(200, 700, 99), 1, 0, 100, 10) === 'inserted', 'a key sharing only one home still fits');
  });

  test('overlapping windows are made disjoint (16 distinct slots); windows wrap at the end of the table', () => {
    const sab = StickyTable.allocate(64);
    const table = new StickyTable(sab);
    const keys = Array.from({ length: kProbeWindow }, (_, tag) => fakeKey(60, 63, tag)); // second home moved to 60 + 8 = 4
    for (const k of keys) assert.is(table.record(k, 1, 0, 100, 10), 'inserted');
    assert.is(table.record(fakeKey(60, 63, 99), 1, 0, 100, 10), 'full');
    for (const k of keys) assert.ok(table.lookup(k, 100, 10));
    const slots = keys.map((k) => slotOf(sab, 64, k)).sort((a, b) => a - b);
    assert.equal(slots, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 60, 61, 62, 63]);
  });

  test('freeing a slot between others hides nothing (no tombstones: every slot of a key is read)', () => {
    const sab = StickyTable.allocate(1024);
    const table = new StickyTable(sab);
    const keys = Array.from({ length: 6 }, (_, tag) => fakeKey(40, 500, tag)); // slots 40, 500, 41, 501, 42, 502
    keys.forEach((k, tag) => table.record(k, tag, 0, tag < 2 ? 994 : 1_000, 10)); // the first two expire first
    assert.is(table.sweep(1024, 1_005, 10), 2, 'slots 40 and 500 freed');
    for (let tag = 2; tag < 6; tag++) assert.equal(table.lookup(keys[tag], 1_005, 10), { broker: tag, generation: 0 }, `key ${tag} still found past the holes`);
    const late = fakeKey(40, 500, 77);
    assert.is(table.record(late, 7, 0, 1_005, 10), 'inserted');
    assert.is(slotOf(sab, 1024, late), 40, 'the new key took the first hole');
    assert.is(table.size(), 5);
  });

  test('remaining race, by design: a writer stalled holding a slot lock makes readers give up, never wait or duplicate', () => {
    const sab = StickyTable.allocate(1024);
    const table = new StickyTable(sab);
    const key = hashKey('stalled');
    table.record(key, 3, 0, 100, kTtlSec);
    const slot = slotOf(sab, 1024, key);
    const w = new Int32Array(sab);
    const state = kHeaderWords + slot * kSlotWords + kSlotStateField;
    w[state] |= kStateLocked; // as if another worker was descheduled between its lock and unlock stores
    assert.is(table.lookup(key, 100, kTtlSec), undefined, 'lookup gives up: no pin, the strategy places the client');
    assert.is(table.stats().busy, 1);
    assert.not.ok(table.touch(key, 100));
    assert.is(table.record(key, 4, 0, 100, kTtlSec), 'existing', 'record sees the locked pin and adds no second copy');
    w[state] &= ~kStateLocked; // the writer runs again and unlocks
    assert.equal(table.lookup(key, 100, kTtlSec), { broker: 3, generation: 0 });
    assert.is(table.entries().length, 1);
  });

  test('a claim abandoned mid-insert (its worker died) is freed by sweep once stale', () => {
    const sab = StickyTable.allocate(64);
    const table = new StickyTable(sab);
    const key = hashKey('orphan');
    table.record(key, 1, 0, 100, kTtlSec);
    const w = new Int32Array(sab);
    const state = kHeaderWords + slotOf(sab, 64, key) * kSlotWords + kSlotStateField;
    w[state] = (w[state] & ~kKindMask) | kKindPending; // published -> pending, as a claim never published
    assert.is(table.lookup(key, 100, kTtlSec), undefined, 'a pending claim is not a pin');
    assert.is(table.sweep(64, 100 + kStaleClaimSec, kTtlSec), 0, 'not stale yet');
    assert.is(table.sweep(64, 101 + kStaleClaimSec, kTtlSec), 1);
    assert.equal(slotKinds(sab, 64), { published: 0, free: 64, other: 0 });
  });

  test('churn forever: 40k clients over 40 s through an 8k table (2k live at a time), never full', () => {
    // Size tables for live pins at <= 1/4 of capacity: at 1/2, about 1 in 2000 records finds its
    // 16-slot window full (linear probing clusters), and that client is placed unpinned.
    const table = new StickyTable(StickyTable.allocate(8192));
    const ttlSec = 1; // pins of this second and the last are live
    for (let round = 0; round < 40; round++) {
      const now = 10_000 + round;
      for (let i = 0; i < 1_000; i++) assert.is.not(table.record(hashKey(`r${round}-${i}`), round % 5, 0, now, ttlSec), 'full');
      table.sweep(1024, now, ttlSec); // a quarter lap per round: expired slots are reused before they are swept too
    }
    assert.is(table.stats().full, 0);
    assert.ok(table.size() < 8192);
    for (let i = 0; i < 1_000; i++) assert.ok(table.lookup(hashKey(`r39-${i}`), 10_039, ttlSec), 'the latest round is all there');
  });

  test('claim: a new key takes the proposal; a later claim follows the pin; full and busy are answers, not waits', () => {
    const sab = StickyTable.allocate(1024);
    const table = new StickyTable(sab);
    withoutWaiting(() => {
      assert.is(table.claim(hashKey('c1'), 2, 5, 100, kTtlSec), 2);
      assert.is(table.claim(hashKey('c1'), 3, 6, 100, kTtlSec), 2, 'the first pin stands');
      assert.is(table.foundGeneration, 5);
      const small = new StickyTable(StickyTable.allocate(16));
      for (let i = 0; i < 16; i++) small.claim(hashKey(`s${i}`), 1, 0, 100, kTtlSec);
      assert.is(small.claim(hashKey('one too many'), 1, 0, 100, kTtlSec), kClaimFull);
      // A pin whose writer stalled holding the slot lock: nothing is known, the answer comes at once.
      const key = hashKey('locked');
      table.claim(key, 4, 0, 100, kTtlSec);
      const w = new Int32Array(sab);
      const state = kHeaderWords + slotOf(sab, 1024, key) * kSlotWords + kSlotStateField;
      w[state] |= kStateLocked;
      assert.is(table.claim(key, 1, 0, 100, kTtlSec), kClaimBusy);
      w[state] &= ~kStateLocked;
      assert.is(table.claim(key, 1, 0, 100, kTtlSec), 4);
    });
  });

  test('claim: another insert of the key still writing its claim (locked) does not hold it up: ours is published', () => {
    const sab = StickyTable.allocate(1024);
    const table = new StickyTable(sab);
    const key = hashKey('racing');
    const theirs = writePendingClaim(sab, key, 7, 0, 100, true);
    const answer = withoutWaiting(() => table.claim(key, 2, 0, 100, kTtlSec));
    assert.is(answer, 2, 'their key was not readable yet: their own verify pass will find our pin');
    assert.equal(table.lookup(key, 100, kTtlSec), { broker: 2, generation: 0 });
    assert.is(new Int32Array(sab)[theirs] & kKindMask, kKindPending, 'their claim is theirs to finish (it will yield to our pin)');
  });

  test('claim: an insert of the key stalled between claim and publish in another thread is finished for it and followed', async () => {
    const sab = StickyTable.allocate(1024);
    const control = new SharedArrayBuffer(8);
    const c = new Int32Array(control);
    const owner = runWorker({ kind: 'stalled-claim', sab, control, text: 'stalled-insert' });
    while (Atomics.load(c, 0) === 0) await new Promise((r) => setTimeout(r, 5));
    const table = new StickyTable(sab);
    const key = hashKey('stalled-insert');
    assert.is(table.lookup(key, 1_000, kTtlSec), undefined, 'claimed, not published: no pin yet');
    // The owner is parked for as long as we like: the claim must answer without it.
    const answer = withoutWaiting(() => table.claim(key, 2, 0, 1_000, kTtlSec));
    assert.is(answer, 7, "the stalled insert's broker");
    assert.is(table.foundGeneration, 3);
    assert.equal(table.lookup(key, 1_000, kTtlSec), { broker: 7, generation: 3 });
    assert.equal([table.size(), table.stats().inserts, table.stats().helped], [1, 1, 1]);
    Atomics.store(c, 1, 1);
    Atomics.notify(c, 1);
    assert.is(await owner, 'owner found its claim published');
    assert.equal(slotKinds(sab, 1024), { published: 1, free: 1023, other: 0 });
  });

  test('4 worker threads claim the same 50k new keys at once, each proposing its own broker: all answer the one pin, none waits', async () => {
    const workers = 4;
    const keys = 50_000;
    const sab = StickyTable.allocate(131_072);
    const control = new SharedArrayBuffer(4 * (2 + keys / kRaceChunk));
    const answers = new SharedArrayBuffer(workers * keys);
    await Promise.all(Array.from({ length: workers }, (_, workerId) => runWorker({ kind: 'claim-race', sab, control, answers, workerId, workers, keys })));
    const table = new StickyTable(sab);
    const answerOf = new Int8Array(answers);
    let disagreements = 0;
    let unanswered = 0;
    for (let i = 0; i < keys; i++) {
      const pin = table.lookup(hashKey(`claim-${i}`), 1_000, kTtlSec);
      for (let w = 0; w < workers; w++) {
        const answer = answerOf[w * keys + i];
        if (answer < 0) unanswered++;
        else if (answer !== pin?.broker) disagreements++;
      }
    }
    assert.is(unanswered, 0, 'no claim answered busy or full');
    assert.is(disagreements, 0, 'every claim answered the pin the table holds');
    assert.is(table.size(), keys);
    assert.is(new Set(table.entries().map((e) => `${e.keyHi}:${e.keyLo}`)).size, keys, 'one slot per key');
    assert.equal(slotKinds(sab, table.capacity), { published: keys, free: table.capacity - keys, other: 0 }, 'no claim left pending, killed or locked');
    console.log('    claim race stats:', table.stats());
  });

  test('4 worker threads record the same 50k keys at once, each proposing its own broker: one agreed pin per key', async () => {
    const workers = 4;
    const keys = 50_000;
    const sab = StickyTable.allocate(131_072);
    const control = new SharedArrayBuffer(4 * (2 + keys / kRaceChunk));
    const results = new SharedArrayBuffer(workers * keys);
    const seen = new SharedArrayBuffer(workers * keys * 2);
    await Promise.all(
      Array.from({ length: workers }, (_, workerId) => runWorker({ kind: 'race', sab, control, results, seen, workerId, workers, keys })),
    );
    const table = new StickyTable(sab);
    const resultOf = new Int8Array(results);
    const seenBy = new Int16Array(seen);
    const tally: Record<string, number> = {};
    for (let i = 0; i < keys; i++) {
      const pin = table.lookup(hashKey(`client-${i}`), 1_000, kTtlSec);
      assert.ok(pin, `client-${i} has a pin`);
      let creators = 0;
      for (let w = 0; w < workers; w++) {
        const result = kResultCodes[resultOf[w * keys + i]];
        tally[result] = (tally[result] ?? 0) + 1;
        if (result === 'inserted') creators++;
        assert.is(seenBy[w * keys + i], pin!.broker, `worker ${w} reads the same pin for client-${i}`);
      }
      assert.is(creators, 1, `exactly one worker created client-${i}`);
      // The pin is the proposal of a worker that wrote it; a worker that answered 'existing' wrote nothing.
      const winner = kResultCodes[resultOf[pin!.broker * keys + i]];
      assert.ok(winner === 'inserted' || winner === 'updated', `client-${i}: pin from a writer, not from a loser (${winner})`);
    }
    assert.is(tally.full ?? 0, 0);
    assert.is(tally.busy ?? 0, 0);
    assert.is(table.size(), keys);
    const entries = table.entries();
    assert.is(entries.length, keys, 'one slot per key: no duplicate copies');
    assert.is(new Set(entries.map((e) => `${e.keyHi}:${e.keyLo}`)).size, keys);
    assert.equal(slotKinds(sab, table.capacity), { published: keys, free: table.capacity - keys, other: 0 }, 'no claim left pending, killed or locked');
    console.log(`    race outcomes over ${workers} x ${keys} records:`, tally);
  });

  test('4 worker threads churn one small table (record/lookup/touch/sweep, pins expiring): invariants hold after', async () => {
    const workers = 4;
    const sab = StickyTable.allocate(1024);
    const control = new SharedArrayBuffer(16);
    const counts = (await Promise.all(
      Array.from({ length: workers }, (_, workerId) => runWorker({ kind: 'churn', sab, control, workerId, workers, ops: 150_000, keyPool: 800 })),
    )) as Array<Record<string, number>>;
    const table = new StickyTable(sab);
    for (const c of counts) assert.is(c.badPin ?? 0, 0, 'no lookup returned a torn or foreign pin');
    const entries = table.entries();
    assert.is(new Set(entries.map((e) => `${e.keyHi}:${e.keyLo}`)).size, entries.length, 'no key published twice');
    assert.is(table.size(), entries.length, 'size counter matches the slots');
    const kinds = slotKinds(sab, table.capacity);
    assert.is(kinds.other, 0, 'no claim left pending, killed or locked');
    assert.is(kinds.published, entries.length);
    console.log('    churn outcomes per worker:', counts, 'stats', table.stats());
  });

  test.run();
}
