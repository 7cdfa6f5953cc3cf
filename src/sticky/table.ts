// Sticky table: route-key hash -> (broker, generation, last seen) in a SharedArrayBuffer, shared by all workers.
//
// Open addressing, power-of-two capacity, bounded probing: a key lives in one of its kProbeWindow
// slots (two windows of kWindowSlots from two home slots, see layout.ts) or nowhere; with no free or
// expired slot there, record answers 'full' and the caller falls back to its strategy. Slots are
// freed in place (no tombstones, no "stop at the first empty slot"): every operation reads all of a
// key's slots, so freeing one never hides another key, and expired slots are reused forever.
//
// Concurrency (every worker reads and writes the same buffer, no locks held across operations):
// - Each slot has a state word: version | kind (free, pending, published, killed) | locked bit.
//   A writer takes the slot with one Atomics.compareExchange on the state word, expecting the exact
//   state it read (version included), so it writes only if nothing changed since it looked. It
//   writes the other words, then stores the state with the version + 1, unlocking. (The version has
//   29 bits: an ABA would take 2^29 writes to one slot between a read and its CAS.)
// - Readers are seqlock readers: state, then the words, then state again; equal and unlocked means
//   the words are one writer's complete write. Only 'published' slots are ever returned.
// - Inserting a key that has no pin: claim a free or expired slot as 'pending' with the key written,
//   then read all of the key's slots again. Another published copy of the key wins (ours is freed,
//   answer 'existing'); an earlier pending copy wins likewise ("earlier" = earlier in the key's fixed
//   list of slots); a later pending copy is killed by a CAS on its state. Then publish ours with a
//   CAS pending -> published, which fails if we were killed.
//   Why exactly one copy gets published: two inserts X (earlier slot) and Y each claim, then read
//   the other's slot. Atomics are sequentially consistent, so at least one of them sees the other's
//   claim (a Dekker pair). If X sees Y pending, X kills Y or (Y published first) X yields; if Y sees
//   X, Y yields. Kill and publish are CASes on the same word, so only one of them takes effect.
// - Nobody waits for a publish (claim(), the first placement of a key): a claim that finds another
//   insert's pending copy of its key, and no pin yet, finishes that insert itself: it runs the verify
//   pass for that claim and publishes it with a CAS on the pending state it read (#help, lock-free
//   helping). The argument above holds whoever runs a claim's verify pass, as long as it starts after
//   the claim became visible; the owner's own publish CAS then fails and it finds its claim published.
//   So a worker descheduled between its claim and its publish never holds up another worker, and
//   both agree on the pin: the claim's broker was written before the claim became visible.
// - record() of a key with a live pin updates it in place ('updated', or 'existing' if the pin already
//   names that broker and generation: last-seen is refreshed). Concurrent records of one key thus
//   agree: exactly one creates the pin, the rest update it or adopt it; the table holds one pin and
//   every later lookup returns it.
//
// Remaining races, by design (each one has a test):
// - A writer descheduled while holding a slot lock (a few stores) makes readers of that one slot give
//   up after a bounded spin: lookup answers "no pin" (the strategy places the client; counted in
//   stats().busy); record adds no second copy of that key (it answers 'existing', or 'busy' after
//   kMaxAttempts tries). Nothing waits without bound.
// - A worker that dies between claim and publish leaves a pending slot: the next claim() of that key
//   publishes it (as above), else sweep frees it after kStaleClaimSec. One that dies holding a lock
//   (mid-store) leaves that slot locked for good.
// - Concurrent records of one key with different brokers end with whichever update came last; a
//   connection whose record answered 'existing' may sit on a broker other than the pin.
import type { KeyHash } from '../hash.ts';
import {
  kBusyField,
  kCapacityField,
  kExpiredField,
  kFullField,
  kHeaderWords,
  kHelpedField,
  kInsertsField,
  kKindFree,
  kKindKilled,
  kKindMask,
  kKindPending,
  kKindPublished,
  kMagic,
  kMagicField,
  kMaxCapacity,
  kMinCapacity,
  kProbeWindow,
  kSizeField,
  kSlotBrokerField,
  kSlotGenerationField,
  kSlotKeyHiField,
  kSlotKeyLoField,
  kSlotLastSeenField,
  kSlotStateField,
  kSlotWords,
  kStaleClaimSec,
  kStateLocked,
  kSweepCursorField,
  kVersionUnit,
  kWindowSlots,
  stickyTableBytes,
} from './layout.ts';

export type StickyPin = { broker: number; generation: number };
/**
 * inserted: this call created the pin (or replaced an expired one).
 * updated: a live pin of this key named another broker or generation; it now names this one.
 * existing: the live pin already named this broker and generation (last-seen refreshed), or a
 *   concurrent insert of the same key by another worker won and this call wrote nothing.
 * full: none of the key's kProbeWindow slots is free or expired; nothing written.
 * busy: slots kept changing or stayed locked for kMaxAttempts tries; nothing written.
 */
export type RecordResult = 'inserted' | 'updated' | 'existing' | 'full' | 'busy';
export type StickyStats = { inserts: number; full: number; expired: number; busy: number; helped: number };
export type StickyEntry = { keyHi: number; keyLo: number; broker: number; generation: number; lastSeenSec: number };

/** Tries of one record() before it answers 'busy'. */
const kMaxAttempts = 8;
/** Rounds of record + help in one claim() before it answers kClaimBusy (each round is bounded). */
const kClaimAttempts = 4;
/**
 * Reads of a locked slot before giving up on it. A lock is held for a few stores (~100 ns); a holder
 * that is running finishes within a few reads, and one that was descheduled stays away for
 * milliseconds, which no spin should cover: 128 reads (~2 us) is the most a reader ever spends on one slot.
 */
const kMaxSpins = 128;

/** Wrapping int32 difference, so second counters keep working across a wrap. */
function isExpired(lastSeenSec: number, nowSec: number, ttlSec: number): boolean {
  return ((nowSec - lastSeenSec) | 0) > ttlSec;
}

function withKind(state: number, kind: number): number {
  return (state & ~(kKindMask | kStateLocked)) | kind;
}

function nextVersion(state: number): number {
  return ((state & ~kStateLocked) + kVersionUnit) | 0;
}

/** claim(): no slot for the key (its windows are full of live pins); nothing was pinned. */
export const kClaimFull = -1;
/** claim(): the key's slots stayed locked or kept changing; nothing is known about its pin. */
export const kClaimBusy = -2;

export class StickyTable {
  readonly capacity: number;
  /** Generation of the pin the last find() (or claim()) on this view returned. Views are per thread. */
  foundGeneration = 0;
  /** Last activity (sticky-clock seconds) of the pin the last find() returned. */
  foundLastSeenSec = 0;
  readonly #w: Int32Array;
  readonly #mask: number;

  /** A table of `capacity` slots rounded up to a power of two (at least kMinCapacity). */
  static allocate(capacity: number): SharedArrayBuffer {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > kMaxCapacity) {
      throw new RangeError(`sticky table capacity must be an integer in 1..${kMaxCapacity}, got ${capacity}`);
    }
    let slots = kMinCapacity;
    while (slots < capacity) slots *= 2;
    const sab = new SharedArrayBuffer(stickyTableBytes(slots));
    const w = new Int32Array(sab);
    // Commit every page now: the table's memory shows at start (capacity x 24 B), and a reconnect storm
    // takes no page faults in it (a fresh key lands on an untouched page almost every time).
    w.fill(0);
    w[kCapacityField] = slots; // plain stores: the buffer is not shared with anyone yet
    w[kMagicField] = kMagic;
    return sab;
  }

  constructor(sab: SharedArrayBuffer) {
    const w = new Int32Array(sab);
    // Atomics.load: the buffer may come from another thread; read its header as published.
    const capacity = Atomics.load(w, kCapacityField);
    if (Atomics.load(w, kMagicField) !== kMagic || sab.byteLength !== stickyTableBytes(capacity)) {
      throw new TypeError('not a sticky table SharedArrayBuffer (use StickyTable.allocate)');
    }
    this.#w = w;
    this.capacity = capacity;
    this.#mask = capacity - 1;
  }

  /** The pin of `key`, or undefined if there is none, it has expired, or its slot stayed locked. Allocates the answer: see find(). */
  lookup(key: KeyHash, nowSec: number, ttlSec: number): StickyPin | undefined {
    const broker = this.find(key, nowSec, ttlSec);
    return broker < 0 ? undefined : { broker, generation: this.foundGeneration };
  }

  /** lookup() with the pin's last activity (sticky-clock seconds; it expires ttl after that), for the admin API. */
  pinOf(key: KeyHash, nowSec: number, ttlSec: number): (StickyPin & { lastSeenSec: number }) | undefined {
    const broker = this.find(key, nowSec, ttlSec);
    return broker < 0 ? undefined : { broker, generation: this.foundGeneration, lastSeenSec: this.foundLastSeenSec };
  }

  /**
   * The data path's lookup, allocation-free: the broker of `key`'s pin, or -1 if there is none, it has
   * expired, or its slot stayed locked. On a pin, foundGeneration holds the generation it was made under.
   */
  find(key: KeyHash, nowSec: number, ttlSec: number): number {
    const w = this.#w;
    const lo = key.lo | 0;
    const hi = key.hi | 0;
    const home2 = this.#secondHome(lo, hi);
    for (let j = 0; j < kProbeWindow; j++) {
      const i = this.#slotAt(lo, home2, j);
      // Plain reads, not Atomics: only a filter (Int32 reads never tear); a match is confirmed by the
      // seqlock read below, and a stale miss equals a lookup that ran a moment earlier. Atomics.load
      // is a call in V8 (~20 ns): this keeps a miss, which reads 16 slots, at a few ns a slot.
      if (w[i + kSlotKeyLoField] !== lo || w[i + kSlotKeyHiField] !== hi) continue;
      for (let spin = 0; spin < kMaxSpins; spin++) {
        // Atomics.load (state, words, state): SC loads keep the word reads between the two state reads (seqlock).
        const s = Atomics.load(w, i + kSlotStateField);
        if ((s & kKindMask) !== kKindPublished) break; // free, pending or killed: not a pin
        if (s & kStateLocked) {
          if (spin === kMaxSpins - 1) Atomics.add(w, kBusyField, 1); // Atomics.add: counters shared by all workers
          continue; // a pin being updated or touched: the writer is a few stores from done
        }
        const keyLo = Atomics.load(w, i + kSlotKeyLoField);
        const keyHi = Atomics.load(w, i + kSlotKeyHiField);
        const broker = Atomics.load(w, i + kSlotBrokerField);
        const generation = Atomics.load(w, i + kSlotGenerationField);
        const lastSeenSec = Atomics.load(w, i + kSlotLastSeenField);
        if (Atomics.load(w, i + kSlotStateField) !== s) continue; // written while we read: read again
        if (keyLo !== lo || keyHi !== hi) break;
        if (isExpired(lastSeenSec, nowSec | 0, ttlSec)) return -1;
        this.foundGeneration = generation >>> 0;
        this.foundLastSeenSec = lastSeenSec;
        return broker;
      }
    }
    return -1;
  }

  /**
   * Pin `key` to `broker` (at its `generation`): create, update or adopt; see RecordResult. Never throws.
   * With `ifAbsent`, a live pin to another broker is left as it is ('existing'): that is how concurrent
   * first placements of one key agree on a broker before any of them connects.
   */
  record(key: KeyHash, broker: number, generation: number, nowSec: number, ttlSec: number, ifAbsent = false): RecordResult {
    for (let attempt = 0; attempt < kMaxAttempts; attempt++) {
      const result = this.#tryRecord(key.lo | 0, key.hi | 0, broker | 0, generation | 0, nowSec | 0, ttlSec, ifAbsent);
      if (result !== undefined) return result;
    }
    Atomics.add(this.#w, kBusyField, 1); // Atomics.add: counters shared by all workers
    return 'busy';
  }

  /**
   * First placement of `key`: pin `broker` (at `generation`) unless the key has a live pin, and answer
   * the broker the key is pinned to now: `broker` itself, or the pin a concurrent first placement made
   * first (its generation in foundGeneration). kClaimFull: no slot for the key, nothing pinned.
   * kClaimBusy: the key's slots stayed locked or kept changing, nothing known (rare: a writer was
   * descheduled between the few stores it makes under a slot lock). Never throws, never waits for
   * another thread: a competing insert of the key that is between its claim and its publish (its
   * thread may be descheduled there for milliseconds) is finished here on its behalf (#help), so the
   * answer is known at once and every worker placing the key agrees on it.
   */
  claim(key: KeyHash, broker: number, generation: number, nowSec: number, ttlSec: number): number {
    for (let attempt = 0; attempt < kClaimAttempts; attempt++) {
      const result = this.record(key, broker, generation, nowSec, ttlSec, true);
      if (result === 'inserted' || result === 'updated') {
        this.foundGeneration = generation >>> 0;
        return broker;
      }
      if (result === 'full') return kClaimFull;
      // 'existing' (or 'busy'): a live pin (read it), or a competing insert not yet published (finish
      // it, then read). Neither: the competing claims went away meanwhile; try again from the start.
      const pinned = this.find(key, nowSec, ttlSec);
      if (pinned >= 0) return pinned;
      if (this.#help(key.lo | 0, key.hi | 0)) {
        const helped = this.find(key, nowSec, ttlSec);
        if (helped >= 0) return helped;
      }
    }
    return kClaimBusy;
  }

  /** Refresh last-seen of `key`'s pin (also one that expired but was not swept yet). False if there is none. */
  touch(key: KeyHash, nowSec: number): boolean {
    const w = this.#w;
    const lo = key.lo | 0;
    const hi = key.hi | 0;
    const home2 = this.#secondHome(lo, hi);
    for (let attempt = 0; attempt < kMaxAttempts; attempt++) {
      let raced = false;
      for (let j = 0; j < kProbeWindow; j++) {
        const i = this.#slotAt(lo, home2, j);
        const s = this.#settled(i);
        if ((s & (kKindMask | kStateLocked)) !== kKindPublished) continue;
        // Atomics.load: seqlock read of the key (state re-checked by the CAS below).
        if (Atomics.load(w, i + kSlotKeyLoField) !== lo || Atomics.load(w, i + kSlotKeyHiField) !== hi) continue;
        // CAS: lock only the version whose key we just read; failure means the slot changed, so look again.
        if (Atomics.compareExchange(w, i + kSlotStateField, s, s | kStateLocked) !== s) {
          raced = true;
          break;
        }
        Atomics.store(w, i + kSlotLastSeenField, nowSec | 0); // Atomics.store: ordered before the unlock below
        Atomics.store(w, i + kSlotStateField, nextVersion(s)); // Atomics.store: unlock, publishing the new time
        return true;
      }
      if (!raced) return false;
    }
    Atomics.add(w, kBusyField, 1);
    return false;
  }

  /**
   * Free up to `maxSlots` expired slots, continuing from where the last sweep (in any worker) stopped.
   * Also frees pending claims abandoned by a worker that died mid-insert. Returns how many it freed.
   */
  sweep(maxSlots: number, nowSec: number, ttlSec: number): number {
    const w = this.#w;
    const count = Math.min(Math.max(0, Math.floor(maxSlots)), this.capacity);
    if (count === 0) return 0;
    // Atomics.add: sweepers in different workers take disjoint ranges and the cursor survives them all.
    const start = Atomics.add(w, kSweepCursorField, count);
    const now = nowSec | 0;
    let freed = 0;
    for (let k = 0; k < count; k++) {
      const i = kHeaderWords + ((start + k) & this.#mask) * kSlotWords;
      // Atomics.load: the state and last-seen read here are validated by the CAS below.
      const s = Atomics.load(w, i + kSlotStateField);
      const kind = s & kKindMask;
      if (s & kStateLocked || kind === kKindFree) continue;
      const lastSeenSec = Atomics.load(w, i + kSlotLastSeenField);
      const stale = kind === kKindPublished ? isExpired(lastSeenSec, now, ttlSec) : isExpired(lastSeenSec, now, kStaleClaimSec);
      if (!stale) continue;
      // CAS: free only the exact version we judged expired; a touch or update in between bumped the version.
      if (Atomics.compareExchange(w, i + kSlotStateField, s, withKind(s, kKindFree | kStateLocked)) !== s) continue;
      this.#clearAndUnlock(i, s);
      if (kind === kKindPublished) {
        Atomics.sub(w, kSizeField, 1); // Atomics.sub/add: counters shared by all workers
        Atomics.add(w, kExpiredField, 1);
      }
      freed++;
    }
    return freed;
  }

  /** Published slots (live, or expired and not yet swept). */
  size(): number {
    return Atomics.load(this.#w, kSizeField); // Atomics.load: a counter other workers change
  }

  stats(): StickyStats {
    const w = this.#w;
    // Atomics.load: counters other workers change; each exact, together a snapshot.
    return {
      inserts: Atomics.load(w, kInsertsField),
      full: Atomics.load(w, kFullField),
      expired: Atomics.load(w, kExpiredField),
      busy: Atomics.load(w, kBusyField),
      helped: Atomics.load(w, kHelpedField),
    };
  }

  /** Every published slot, for the admin API and tests (a scan of the whole table; not for the data path). */
  entries(): StickyEntry[] {
    const w = this.#w;
    const out: StickyEntry[] = [];
    for (let slot = 0; slot < this.capacity; slot++) {
      const i = kHeaderWords + slot * kSlotWords;
      for (let spin = 0; spin < kMaxSpins; spin++) {
        // Atomics.load: seqlock read, as in lookup.
        const s = Atomics.load(w, i + kSlotStateField);
        if ((s & kKindMask) !== kKindPublished) break;
        if (s & kStateLocked) continue;
        const entry = {
          keyHi: Atomics.load(w, i + kSlotKeyHiField) >>> 0,
          keyLo: Atomics.load(w, i + kSlotKeyLoField) >>> 0,
          broker: Atomics.load(w, i + kSlotBrokerField),
          generation: Atomics.load(w, i + kSlotGenerationField) >>> 0,
          lastSeenSec: Atomics.load(w, i + kSlotLastSeenField),
        };
        if (Atomics.load(w, i + kSlotStateField) !== s) continue;
        out.push(entry);
        break;
      }
    }
    return out;
  }

  /**
   * Home of a key's second window: from the high half of its hash, moved just past the first window
   * when the two would overlap, so a key's kProbeWindow slots are always distinct.
   */
  #secondHome(lo: number, hi: number): number {
    const mask = this.#mask;
    const home2 = hi & mask;
    const distance = (home2 - lo) & mask;
    return distance < kWindowSlots || distance > mask + 1 - kWindowSlots ? (lo + kWindowSlots) & mask : home2;
  }

  /** Word index of the j-th of a key's slots: j < kWindowSlots in the first window (home lo & mask), the rest in the second. */
  #slotAt(lo: number, home2: number, j: number): number {
    const slot = j < kWindowSlots ? lo + j : home2 + j - kWindowSlots;
    return kHeaderWords + (slot & this.#mask) * kSlotWords;
  }

  /** The slot's state once it is unlocked, or still locked after kMaxSpins reads. */
  #settled(i: number): number {
    // Atomics.load: waiting for another worker's unlock store.
    let s = Atomics.load(this.#w, i + kSlotStateField);
    for (let spin = 0; s & kStateLocked && spin < kMaxSpins; spin++) s = Atomics.load(this.#w, i + kSlotStateField);
    return s;
  }

  /** One try of record(); undefined = something changed under us, try again. */
  #tryRecord(lo: number, hi: number, broker: number, generation: number, now: number, ttlSec: number, ifAbsent: boolean): RecordResult | undefined {
    const w = this.#w;
    const home2 = this.#secondHome(lo, hi);
    // First free (or expired) slot of each window, and how many each has: insert where there is more
    // room. Plain locals, not arrays: this runs for every new client.
    let firstFree0 = -1;
    let firstFree1 = -1;
    let firstFreeState0 = 0;
    let firstFreeState1 = 0;
    let freeCount0 = 0;
    let freeCount1 = 0;
    let sawPending = false;
    for (let j = 0; j < kProbeWindow; j++) {
      const i = this.#slotAt(lo, home2, j);
      const s = this.#settled(i);
      if (s & kStateLocked) continue; // still locked: if it is this key's pin, the verify pass below finds it
      const kind = s & kKindMask;
      // Atomics.load: seqlock reads; the state is re-checked below or by the claiming CAS.
      const isKey = Atomics.load(w, i + kSlotKeyLoField) === lo && Atomics.load(w, i + kSlotKeyHiField) === hi;
      if (kind === kKindPublished) {
        const lastSeenSec = Atomics.load(w, i + kSlotLastSeenField);
        const expired = isExpired(lastSeenSec, now, ttlSec);
        if (isKey) {
          const same = Atomics.load(w, i + kSlotBrokerField) === broker && Atomics.load(w, i + kSlotGenerationField) === generation;
          if (Atomics.load(w, i + kSlotStateField) !== s) return undefined;
          if (ifAbsent && !expired && !same) return 'existing'; // someone else's live pin stands
          return this.#updatePin(i, s, broker, generation, now, expired, same, lastSeenSec);
        }
        if (!expired) continue;
      } else if (kind !== kKindFree) {
        if (kind === kKindPending && isKey) sawPending = true;
        continue;
      }
      if (j < kWindowSlots) {
        if (freeCount0++ === 0) {
          firstFree0 = j;
          firstFreeState0 = s;
        }
      } else if (freeCount1++ === 0) {
        firstFree1 = j;
        firstFreeState1 = s;
      }
    }
    const first = freeCount0 >= freeCount1;
    const targetPos = first ? firstFree0 : firstFree1;
    const target = targetPos < 0 ? -1 : this.#slotAt(lo, home2, targetPos);
    const targetState = first ? firstFreeState0 : firstFreeState1;
    if (target < 0) {
      if (sawPending) return 'existing'; // another worker is inserting this very key right now
      Atomics.add(w, kFullField, 1); // Atomics.add: counters shared by all workers
      return 'full';
    }

    // Claim. CAS: take the slot only in the exact state we judged free or expired (version included).
    const claimed = withKind(targetState, kKindPending | kStateLocked);
    if (Atomics.compareExchange(w, target + kSlotStateField, targetState, claimed) !== targetState) return undefined;
    if ((targetState & kKindMask) === kKindPublished) {
      Atomics.sub(w, kSizeField, 1); // evicting another key's expired pin
      Atomics.add(w, kExpiredField, 1);
    }
    // Atomics.store: word writes, all ordered before the unlock store that follows them.
    Atomics.store(w, target + kSlotKeyLoField, lo);
    Atomics.store(w, target + kSlotKeyHiField, hi);
    Atomics.store(w, target + kSlotBrokerField, broker);
    Atomics.store(w, target + kSlotGenerationField, generation);
    Atomics.store(w, target + kSlotLastSeenField, now);
    const pending = nextVersion(claimed);
    // Atomics.store: unlock as pending; SC, so it is ordered before our reads of the other slots below.
    Atomics.store(w, target + kSlotStateField, pending);

    // Verify: no other copy of this key may survive alongside ours.
    for (let j = 0; j < kProbeWindow; j++) {
      if (j === targetPos) continue;
      if (this.#mustYield(this.#slotAt(lo, home2, j), lo, hi, j < targetPos)) return this.#giveUpClaim(target, pending, lo, hi);
    }
    // Publish. CAS: fails if a competing insert killed our pending claim first (then it wins), or if
    // a helper (#help) published it for us.
    if (Atomics.compareExchange(w, target + kSlotStateField, pending, withKind(pending, kKindPublished)) !== pending) {
      return this.#giveUpClaim(target, pending, lo, hi);
    }
    Atomics.add(w, kSizeField, 1);
    Atomics.add(w, kInsertsField, 1);
    return 'inserted';
  }

  /** Update or refresh the published pin at slot i, read consistently in state s. */
  #updatePin(i: number, s: number, broker: number, generation: number, now: number, expired: boolean, same: boolean, lastSeenSec: number): RecordResult | undefined {
    const w = this.#w;
    if (same && !expired && lastSeenSec === now) return 'existing'; // nothing to write: spare the cache line
    // CAS: lock only the version we read; failure means another writer got there first, so look again.
    if (Atomics.compareExchange(w, i + kSlotStateField, s, s | kStateLocked) !== s) return undefined;
    if (!same) {
      // Atomics.store: ordered before the unlock store.
      Atomics.store(w, i + kSlotBrokerField, broker);
      Atomics.store(w, i + kSlotGenerationField, generation);
    }
    Atomics.store(w, i + kSlotLastSeenField, now);
    Atomics.store(w, i + kSlotStateField, nextVersion(s)); // Atomics.store: unlock, publishing the writes
    if (expired) {
      // The old pin had expired: this is a new pin in the same slot.
      Atomics.add(w, kExpiredField, 1);
      Atomics.add(w, kInsertsField, 1);
      return 'inserted';
    }
    return same ? 'existing' : 'updated';
  }

  /**
   * During an insert's verify pass: must our pending claim give way to what slot i holds?
   * `earlier` = slot i comes before ours in the key's list of slots.
   */
  #mustYield(i: number, lo: number, hi: number, earlier: boolean): boolean {
    const w = this.#w;
    for (let spin = 0; spin < kMaxSpins; spin++) {
      // Atomics.load: seqlock read (state, key, state); see the class comment for why these suffice.
      const s = Atomics.load(w, i + kSlotStateField);
      const kind = s & kKindMask;
      if (kind === kKindFree || kind === kKindKilled) return false;
      // A claim in progress: it locked before this read, so its own verify pass reads our slot after
      // our claim and resolves the conflict from its side.
      if (kind === kKindPending && s & kStateLocked) return false;
      const isKey = Atomics.load(w, i + kSlotKeyLoField) === lo && Atomics.load(w, i + kSlotKeyHiField) === hi;
      if (Atomics.load(w, i + kSlotStateField) !== s) continue;
      if (!isKey) return false;
      if (kind === kKindPublished) return true; // a pin of this key exists (perhaps being updated): it wins
      if (earlier) return true; // an earlier pending claim has priority; it publishes or yields in turn
      // CAS: kill the later claim only if it is still the pending claim we read; failure means it
      // published or went away first, so read it again.
      if (Atomics.compareExchange(w, i + kSlotStateField, s, withKind(s, kKindKilled)) === s) return false;
    }
    return true; // never got a stable read: yielding can only lose this record, never make two pins
  }

  /**
   * Our claim at slot i lost, or we decided it must yield: free it and answer 'existing'. Unless it
   * is no longer ours to free because a helper published it meanwhile: then it is the key's pin, and
   * this record made it ('inserted'; the helper counted it).
   */
  #giveUpClaim(i: number, pending: number, lo: number, hi: number): RecordResult {
    if (this.#release(i, pending)) return 'existing';
    const w = this.#w;
    // Atomics.load: seqlock read of the slot that was ours (a published slot keeps its key while it lives).
    const s = Atomics.load(w, i + kSlotStateField);
    const ours = (s & kKindMask) === kKindPublished && Atomics.load(w, i + kSlotKeyLoField) === lo && Atomics.load(w, i + kSlotKeyHiField) === hi;
    return ours && Atomics.load(w, i + kSlotStateField) === s ? 'inserted' : 'existing';
  }

  /** Free our pending (or killed) claim at slot i. False if it is no longer ours (published by a helper, or swept). */
  #release(i: number, pending: number): boolean {
    const w = this.#w;
    const locked = withKind(pending, kKindFree | kStateLocked);
    // CAS: only we free our claim, whether it is still pending or was killed; if both fail, a helper
    // published it or a sweep took it as abandoned, and it is no longer ours.
    if (
      Atomics.compareExchange(w, i + kSlotStateField, pending, locked) !== pending &&
      Atomics.compareExchange(w, i + kSlotStateField, withKind(pending, kKindKilled), locked) !== withKind(pending, kKindKilled)
    ) {
      return false;
    }
    this.#clearAndUnlock(i, locked);
    return true;
  }

  /**
   * Finish, on its owner's behalf, an insert of this key that claimed a slot and has not published
   * it (lock-free helping): take the earliest pending claim of the key, run its verify pass exactly
   * as its owner would (#mustYield over the key's other slots: give way to a pin or an earlier claim,
   * kill later ones), then publish it with a CAS on the pending state we read. The owner's own
   * publish CAS then fails and it finds its claim published (#giveUpClaim). Why this keeps one pin
   * per key: a verify run by anyone after a claim became visible is as good as the owner's (the
   * Dekker argument in the file comment is about when the reads happen, not who makes them), and
   * publish, kill and free are CASes on the same state word, so only one of them takes effect.
   * True if the key has a readable pin afterwards.
   */
  #help(lo: number, hi: number): boolean {
    const w = this.#w;
    const home2 = this.#secondHome(lo, hi);
    for (let attempt = 0; attempt < kMaxAttempts; attempt++) {
      let claimPos = -1;
      let claimState = 0;
      let raced = false;
      for (let j = 0; j < kProbeWindow && claimPos < 0; j++) {
        const i = this.#slotAt(lo, home2, j);
        // Atomics.load: seqlock read (state, key, state), as in #mustYield.
        const s = Atomics.load(w, i + kSlotStateField);
        const kind = s & kKindMask;
        // Locked: a pin being updated (not readable now) or a claim still writing its key (its own
        // verify pass will see the others): nothing to finish there.
        if ((kind !== kKindPublished && kind !== kKindPending) || s & kStateLocked) continue;
        const isKey = Atomics.load(w, i + kSlotKeyLoField) === lo && Atomics.load(w, i + kSlotKeyHiField) === hi;
        if (Atomics.load(w, i + kSlotStateField) !== s) {
          raced = true; // changed under us: read the key's slots again
          continue;
        }
        if (!isKey) continue;
        if (kind === kKindPublished) return true; // published meanwhile (by its owner or another helper)
        claimPos = j;
        claimState = s;
      }
      if (claimPos < 0) {
        if (raced) continue;
        return false;
      }
      let yielded = false;
      for (let j = 0; j < kProbeWindow && !yielded; j++) {
        if (j !== claimPos) yielded = this.#mustYield(this.#slotAt(lo, home2, j), lo, hi, j < claimPos);
      }
      if (yielded) continue; // a pin or an earlier claim is there: look again (and finish that one)
      const target = this.#slotAt(lo, home2, claimPos);
      // CAS: publish exactly the pending claim we verified; fails if its owner published it, or it
      // was killed or freed, since we read it.
      if (Atomics.compareExchange(w, target + kSlotStateField, claimState, withKind(claimState, kKindPublished)) === claimState) {
        Atomics.add(w, kSizeField, 1); // Atomics.add: counters shared by all workers; the publisher counts the insert
        Atomics.add(w, kInsertsField, 1);
        Atomics.add(w, kHelpedField, 1);
        return true;
      }
    }
    return false;
  }

  /** Clear the key of slot i, which we hold locked, and unlock it free. */
  #clearAndUnlock(i: number, state: number): void {
    // Atomics.store: key cleared before the unlock store, so a free slot never shows an old key.
    Atomics.store(this.#w, i + kSlotKeyLoField, 0);
    Atomics.store(this.#w, i + kSlotKeyHiField, 0);
    Atomics.store(this.#w, i + kSlotStateField, withKind(nextVersion(state), kKindFree));
  }
}
