// Process-wide event and byte counters: each worker adds in its own slot of a SharedArrayBuffer (its own
// cache lines, 32-bit cells, no BigInt), and the primary folds every slot into exact totals.
//
// Why it is exact: a worker's event cell counts modulo 2^32; the primary reads each cell, adds the
// difference from its previous read modulo 2^32 to a plain Number total, and remembers what it read. That
// is exact as long as no cell moves by 2^32 or more between two reads of the primary: it reads every
// second (src/primary/run.ts) and on every snapshot, and a cell counts one kind of event of one worker:
// at 100k events a second it takes 12 hours to move 2^32. Bytes are different (one add a second per worker, each up to several GB):
// they get 64-bit cells, two words behind a sequence word, so neither a batch above 2^31 nor a second of
// 10 GB can wrap them. When a worker dies, the primary folds its slot a last time and zeroes it before
// the replacement (same id, same slot) counts there (`CounterTotals.retire`).
import { kMaxWorkers } from '../limits/worker-shares.ts';

export const counterNames = [
  'connections_accepted',
  'connections_forwarded',
  'connections_closed',
  'refused_not_connect',
  'refused_malformed',
  'refused_unsupported_protocol',
  'refused_too_large',
  'refused_connect_timeout',
  'refused_no_broker',
  'refused_max_connections',
  'refused_connect_rate',
  'refused_client_id_mismatch',
  'refused_bad_proxy_header',
  'refused_unexpected_proxy_header',
  'client_closed_before_connect',
  'client_ended_before_connect',
  'client_closed_while_placing',
  'pending_evicted',
  'refused_internal_error',
  'connections_dropped_worker_exit',
  'broker_connect_failures',
  // Passive health: a broker's CONNACK refused a client for the broker's own state (0x03, 0x88, 0x89,
  // 0x97, 0x9F); counted against it like a failed connect.
  'broker_connack_refusals',
  // A forwarded client that sent nothing for its idle limit (limits.idle), closed by Sluice.
  'connections_idle_closed',
  // A forwarded client closed because its broker drains at a bounded close rate (drain_close_rate).
  'connections_drained',
  // A forwarded client closed by a rebalance (balance.rebalance_rate): its pin moved to a broker that came up.
  'connections_rebalanced',
  // An MQTT 5 client with an empty client id: the id its broker assigned (CONNACK) was pinned to it.
  'assigned_ids_pinned',
  // TLS listeners: handshakes completed, failed (bad or no TLS), timed out, client certificate refused.
  'tls_handshakes',
  'tls_handshake_failed',
  'tls_handshake_timeout',
  'tls_client_cert_rejected',
  // accept_proxy_protocol on a TLS or WebSocket listener: a bad PROXY header (or none in time) before the
  // handshake or upgrade; like a failed handshake, before the client reaches MQTT.
  'front_bad_proxy_header',
  // A Sluice bug in a listener's setup step (TLS, WebSocket, PROXY front): that socket closed, logged.
  'listener_internal_errors',
  // WebSocket listeners: upgrades done; HTTP that is not one, a path or subprotocol that is not MQTT's,
  // a text message, a message over max_frame_size.
  'ws_upgrades',
  'ws_not_upgrade',
  'ws_wrong_path',
  'ws_bad_subprotocol',
  'ws_text_frame',
  'ws_frame_too_large',
  // Broker health (primary): MQTT probes run and failed; brokers marked down and up (rise/fall).
  'health_checks',
  'health_check_failures',
  'broker_marked_down',
  'broker_marked_up',
  // SIGHUP config reloads (primary): applied, and refused whole (the running config stays).
  'config_reloads',
  'config_reload_failures',
  // Discovery sources (primary): a source's set changed; a poll failed (its last good set stays).
  'discovery_updates',
  'discovery_failures',
  'sticky_hits',
  'sticky_misses',
  'sticky_stale',
  'sticky_unrecorded',
  'bytes_client_to_broker',
  'bytes_broker_to_client',
  // Admin HTTP endpoint (primary thread); see README "Admin endpoint".
  'admin_requests',
  'admin_bad_requests',
  // A call that changes something (drain, reload) without the right bearer token: 401.
  'admin_unauthorized',
  'admin_errors',
  'admin_client_errors',
  'admin_timeouts',
  'admin_connections_refused',
] as const;
export type CounterName = (typeof counterNames)[number];

/** Counters added in batches (bytes, once a second per worker, up to GBs each): 64-bit cells. */
export const wideCounterNames = ['bytes_client_to_broker', 'bytes_broker_to_client'] as const satisfies readonly CounterName[];

/** What counting code needs: a worker's `Counters` and the primary's `CounterTotals` both are one. */
export type CounterSink = { add(name: CounterName, n?: number): void };

// --- Slot layout (Int32 words). Worker `id` (1..maxWorkers) owns slot id-1 and is its only writer. ---

/** Wide cell: sequence word, +1 before and +1 after each write, so odd = a write in progress. */
export const kWideSeqField = 0;
/** Wide cell: low 32 bits of the count (uint32 stored as int32). */
export const kWideLoField = 1;
/** Wide cell: high 32 bits of the count (uint32 stored as int32; the count is modulo 2^64). */
export const kWideHiField = 2;
export const kWideWords = 3;

const wideNames: ReadonlySet<CounterName> = new Set(wideCounterNames);
/** Each counter's first word in a slot, in `counterNames` order: one word per event counter, three per wide one. */
export const kCellWords: readonly number[] = (() => {
  let next = 0;
  return counterNames.map((n) => { const at = next; next += wideNames.has(n) ? kWideWords : 1; return at; });
})();
/** Words of a slot in use. */
export const kSlotUsedWords = counterNames.reduce((n, name) => n + (wideNames.has(name) ? kWideWords : 1), 0);
/**
 * Words from one slot to the next: the words in use, then at least 16 words (64 bytes, a cache line)
 * nobody writes, rounded up to 16 words. Wherever the buffer starts, no cache line then holds words two
 * workers write.
 */
export const kSlotWords = Math.ceil((kSlotUsedWords + 16) / 16) * 16;

/**
 * Per counter, in `counterNames` order, what `add` looks up: an event counter's word in the slot, or,
 * for a wide counter, the bitwise NOT (~, so negative) of its first word. One lookup on the hot path.
 */
const cellCode: Record<CounterName, number> = Object.fromEntries(
  counterNames.map((n, i) => [n, wideNames.has(n) ? ~kCellWords[i] : kCellWords[i]]),
) as Record<CounterName, number>;
const counterIndex = Object.fromEntries(counterNames.map((n, i) => [n, i])) as Record<CounterName, number>;

/** Largest event add: events come one (or a few) at a time; batches belong in a wide counter. */
export const kMaxEventAdd = 2 ** 20;
const kTwo32 = 2 ** 32;

/** The word of counter `name` in worker `workerId`'s slot (for a wide counter, its sequence word). */
export function counterWord(workerId: number, name: CounterName): number {
  return (workerId - 1) * kSlotWords + kCellWords[counterIndex[name]];
}

function slotBase(words: Int32Array, workerId: number): number {
  const maxWorkers = words.length / kSlotWords;
  if (!(Number.isInteger(workerId) && workerId >= 1 && workerId <= maxWorkers)) {
    throw new RangeError(`worker id ${workerId} out of range 1..${maxWorkers}`);
  }
  return (workerId - 1) * kSlotWords;
}

/** One worker's counters: every add lands in that worker's slot, which no other thread writes. */
export class Counters implements CounterSink {
  readonly #words: Int32Array;
  readonly #base: number;

  /** One slot per worker id, 1..maxWorkers (the same ids as `WorkerShares`). */
  static allocate(maxWorkers = kMaxWorkers): SharedArrayBuffer {
    return new SharedArrayBuffer(maxWorkers * kSlotWords * Int32Array.BYTES_PER_ELEMENT);
  }

  constructor(sab: SharedArrayBuffer, workerId: number) {
    this.#words = counterWords(sab);
    this.#base = slotBase(this.#words, workerId);
  }

  /** Adds `n` (an event counter: an integer 0..kMaxEventAdd; a wide one: any safe integer >= 0). Allocates nothing. */
  add(name: CounterName, n = 1): void {
    const code = cellCode[name];
    if (code < 0) return this.#addWide(this.#base + ~code, n);
    if (!(n >= 0 && n <= kMaxEventAdd && (n | 0) === n)) throw new RangeError(`counter ${name}: bad event add ${n}`);
    // Atomics.add although this thread is the cell's only writer: with plain stores the JS memory model
    // would let the primary's later read return an older value than an earlier one (nothing orders
    // them), and the modulo fold would turn that into +2^32. Seq-cst reads of one word never go back.
    // The cache line is this worker's alone, so the locked add is uncontended (bench/counters-micro.ts).
    Atomics.add(this.#words, this.#base + code, n);
  }

  #addWide(at: number, n: number): void {
    if (!(Number.isSafeInteger(n) && n >= 0)) throw new RangeError(`wide counter: bad add ${n}`);
    const w = this.#words;
    // Plain reads: this thread is the only writer of these words, so it reads back its own last stores.
    const seq = w[at + kWideSeqField];
    const lo = (w[at + kWideLoField] >>> 0) + (n % kTwo32); // < 2^33: exact
    const hi = (w[at + kWideHiField] >>> 0) + Math.floor(n / kTwo32) + (lo >= kTwo32 ? 1 : 0);
    // Seqlock, single writer. Atomics.store throughout: all four are seq-cst, so a reader that sees the
    // same even sequence before and after reading both halves read neither half of a write in progress.
    // No JS call and no loop between the stores: V8 stops a terminated thread only at its interrupt
    // checks (function entry, loop back-edge), so a dead worker never leaves a write half done.
    // Int32 stores take the halves modulo 2^32 (ToInt32), and `seq + 1` wraps keeping its parity.
    Atomics.store(w, at + kWideSeqField, seq + 1);
    Atomics.store(w, at + kWideLoField, lo);
    Atomics.store(w, at + kWideHiField, hi);
    Atomics.store(w, at + kWideSeqField, seq + 2);
  }
}

/** How often a live read of a wide cell retries a write in progress before keeping the last value. */
const kWideReadTries = 4;

/**
 * The primary's view: exact totals folded from every worker's slot, plus the primary's own counts
 * (admin requests, clients dropped by a worker exit), which it adds straight into the totals.
 */
export class CounterTotals implements CounterSink {
  readonly #words: Int32Array;
  /** Private mirror of the shared words as the primary last folded them. */
  readonly #seen: Int32Array;
  /** Plain Numbers, exact up to 2^53 (9 PB of bytes). */
  readonly #totals = new Float64Array(counterNames.length);

  constructor(sab: SharedArrayBuffer) {
    this.#words = counterWords(sab);
    this.#seen = new Int32Array(this.#words.length);
  }

  get maxWorkers(): number {
    return this.#words.length / kSlotWords;
  }

  /** Counts in the primary thread (the thread that folds, so a plain add is exact). */
  add(name: CounterName, n = 1): void {
    if (!(Number.isSafeInteger(n) && n >= 0)) throw new RangeError(`counter ${name}: bad add ${n}`);
    this.#totals[counterIndex[name]] += n;
  }

  /** Folds what every worker counted since the last fold into the totals. */
  fold(): void {
    for (let id = 1; id <= this.maxWorkers; id++) this.#foldSlot(slotBase(this.#words, id), false);
  }

  /** Exact totals now: folds first, so an event a worker counted before this call is in. */
  snapshot(): Record<CounterName, number> {
    this.fold();
    return Object.fromEntries(counterNames.map((n, i) => [n, this.#totals[i]])) as Record<CounterName, number>;
  }

  /**
   * Folds worker `workerId`'s final counts and zeroes its slot, for a replacement to count in from zero.
   * Only after that worker's thread has exited (its 'exit' event): nothing may write the slot meanwhile.
   */
  retire(workerId: number): void {
    const base = slotBase(this.#words, workerId);
    this.#foldSlot(base, true);
    // Atomics.store: the replacement thread, started after this, must read zeros.
    for (let i = base; i < base + kSlotUsedWords; i++) { Atomics.store(this.#words, i, 0); this.#seen[i] = 0; }
  }

  #foldSlot(base: number, final: boolean): void {
    const w = this.#words;
    const seen = this.#seen;
    const totals = this.#totals;
    for (let k = 0; k < counterNames.length; k++) {
      const at = base + kCellWords[k];
      if (!wideNames.has(counterNames[k])) {
        // Atomics.load pairs with the worker's Atomics.add (see Counters.add): never older than the last read.
        const now = Atomics.load(w, at);
        totals[k] += (now - seen[at]) >>> 0; // difference modulo 2^32: at most one wrap since the last read
        seen[at] = now;
        continue;
      }
      for (let tries = 0; tries < kWideReadTries; tries++) {
        // Seqlock read (see Counters.#addWide): sequence, both halves, sequence again.
        const seq = Atomics.load(w, at + kWideSeqField);
        const lo = Atomics.load(w, at + kWideLoField);
        const hi = Atomics.load(w, at + kWideHiField);
        // A dead worker wrote last before it exited (and never stops mid-write): take its words as they are.
        if (!final && ((seq & 1) !== 0 || Atomics.load(w, at + kWideSeqField) !== seq)) continue;
        // Difference of two 64-bit counts modulo 2^64, exact below 2^53.
        totals[k] += ((hi - seen[at + kWideHiField]) >>> 0) * kTwo32 + ((lo >>> 0) - (seen[at + kWideLoField] >>> 0));
        seen[at + kWideSeqField] = seq;
        seen[at + kWideLoField] = lo;
        seen[at + kWideHiField] = hi;
        break;
      }
      // A worker kept writing through every try (or was descheduled mid-write): this read happened
      // before that write; the next fold takes it.
    }
  }
}

function counterWords(sab: SharedArrayBuffer): Int32Array {
  const bytes = kSlotWords * Int32Array.BYTES_PER_ELEMENT;
  if (sab.byteLength === 0 || sab.byteLength % bytes !== 0) throw new RangeError(`not a counters buffer (${sab.byteLength} bytes)`);
  return new Int32Array(sab);
}
