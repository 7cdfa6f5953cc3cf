// Per-listener connection counts and the CONNECT-phase duration histogram, in shared memory. Like the
// counters (counters.ts), each worker writes only its own slot of 32-bit event cells, and the primary
// folds the slots into exact totals on each read. A worker's slot holds, per listener slot (stable per
// listener across reloads, src/primary/listener-slots.ts): accepted, then one cell per way a connection
// ends (refused or closed before forwarding, or closed after it); then the histogram's bucket counts,
// its count and its sum in microseconds. When a worker dies, what it had accepted and not ended is
// counted per listener as dropped_worker_exit (its slot says exactly how many).
import { kMaxWorkers } from '../limits/worker-shares.ts';

/** Listener slots: more than a config has listeners, so a reload rarely reuses a slot soon. */
export const kListenerSlots = 64;

/** Ways an accepted connection ends, in cell order; connections_forwarded is not an end (it is counted
 *  apart), connections_closed is the end of a forwarded one. */
export const connectionEnds = [
  'refused_not_connect', 'refused_malformed', 'refused_unsupported_protocol', 'refused_too_large', 'refused_connect_timeout',
  'refused_no_broker', 'refused_max_connections', 'refused_connect_rate', 'refused_client_id_mismatch', 'refused_bad_proxy_header',
  'refused_unexpected_proxy_header', 'refused_internal_error', 'client_closed_before_connect', 'client_ended_before_connect',
  'client_closed_while_placing', 'pending_evicted', 'connections_closed',
] as const;
export type ConnectionEnd = (typeof connectionEnds)[number];

/** Refusals before a connection is accepted as MQTT: at the TLS handshake, the PROXY header of a TLS or
 *  WebSocket listener, or the HTTP upgrade. */
export const handshakeRefusals = [
  'tls_handshake_failed', 'tls_handshake_timeout', 'tls_client_cert_rejected', 'front_bad_proxy_header', 'ws_not_upgrade', 'ws_wrong_path', 'ws_bad_subprotocol',
] as const;
export type HandshakeRefusal = (typeof handshakeRefusals)[number];

/** Upper bounds of the CONNECT-phase histogram (seconds): accept to CONNECT forwarded to a broker. */
export const kConnectBucketsSec = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

// Per listener slot: accepted, forwarded, the ends, then the refusals before an accept.
const kAcceptedCell = 0;
const kForwardedCell = 1;
const kFirstEndCell = 2;
const kFirstHandshakeCell = kFirstEndCell + connectionEnds.length;
const kListenerCells = kFirstHandshakeCell + handshakeRefusals.length;
// After the listener block: one cell per bucket, then +Inf, the count is their sum; then the sum (µs).
const kHistogramBase = kListenerSlots * kListenerCells;
const kHistogramCells = kConnectBucketsSec.length + 2;
const kSumCell = kHistogramBase + kConnectBucketsSec.length + 1;
/** Words per worker slot, padded so two workers never write one cache line. */
const kSlotWords = Math.ceil((kHistogramBase + kHistogramCells + 16) / 16) * 16;
const endCell = Object.fromEntries(connectionEnds.map((n, i) => [n, kFirstEndCell + i])) as Record<ConnectionEnd, number>;
const handshakeCell = Object.fromEntries(handshakeRefusals.map((n, i) => [n, kFirstHandshakeCell + i])) as Record<HandshakeRefusal, number>;
const kMaxDurationUs = 2 ** 30; // one observation's cap (18 minutes): a sum cell folds modulo 2^32

function slotBase(words: Int32Array, workerId: number): number {
  const maxWorkers = words.length / kSlotWords;
  if (!(Number.isInteger(workerId) && workerId >= 1 && workerId <= maxWorkers)) throw new RangeError(`worker id ${workerId} out of range 1..${maxWorkers}`);
  return (workerId - 1) * kSlotWords;
}

/** A worker's writer: every add is one Atomics.add on its own slot (see Counters.add for why Atomics). */
export class ConnectionStats {
  readonly #words: Int32Array;
  readonly #base: number;

  static allocate(maxWorkers = kMaxWorkers): SharedArrayBuffer {
    return new SharedArrayBuffer(maxWorkers * kSlotWords * Int32Array.BYTES_PER_ELEMENT);
  }

  constructor(sab: SharedArrayBuffer, workerId: number) {
    this.#words = new Int32Array(sab);
    this.#base = slotBase(this.#words, workerId);
  }

  accepted(listener: number): void {
    Atomics.add(this.#words, this.#base + listener * kListenerCells + kAcceptedCell, 1);
  }

  /** Forwarded to a broker `durationMs` after it was accepted. */
  forwarded(listener: number, durationMs: number): void {
    const w = this.#words;
    Atomics.add(w, this.#base + listener * kListenerCells + kForwardedCell, 1);
    const sec = durationMs / 1000;
    let b = 0;
    while (b < kConnectBucketsSec.length && sec > kConnectBucketsSec[b]) b++;
    Atomics.add(w, this.#base + kHistogramBase + b, 1);
    Atomics.add(w, this.#base + kSumCell, Math.min(kMaxDurationUs, Math.max(0, Math.round(durationMs * 1000))));
  }

  ended(listener: number, end: ConnectionEnd): void {
    Atomics.add(this.#words, this.#base + listener * kListenerCells + endCell[end], 1);
  }

  /** Refused before it was accepted as MQTT (never counted as accepted). */
  refusedBeforeAccept(listener: number, why: HandshakeRefusal): void {
    Atomics.add(this.#words, this.#base + listener * kListenerCells + handshakeCell[why], 1);
  }
}

export type ListenerTotals = {
  accepted: number;
  forwarded: number;
  ends: Record<ConnectionEnd | 'dropped_worker_exit', number>;
  active: number;
  refusedBeforeAccept: Record<HandshakeRefusal, number>;
};
export type HistogramTotals = { buckets: number[]; count: number; sumSec: number };

/** The primary's view: exact totals folded from every worker's slot. */
export class ConnectionTotals {
  readonly #words: Int32Array;
  readonly #seen: Int32Array;
  readonly #totals: Float64Array;
  /** Per listener slot: connections a dead worker had accepted and not ended. */
  readonly #dropped = new Float64Array(kListenerSlots);

  constructor(sab: SharedArrayBuffer) {
    this.#words = new Int32Array(sab);
    this.#seen = new Int32Array(this.#words.length);
    this.#totals = new Float64Array(kSlotWords);
  }

  fold(): void {
    for (let id = 1; id <= this.#words.length / kSlotWords; id++) this.#foldSlot(slotBase(this.#words, id));
  }

  /**
   * After worker `workerId` exited: its last counts are folded, what it accepted and had not ended is
   * counted as dropped per listener, and its slot is zeroed for a replacement.
   */
  retire(workerId: number): void {
    const base = slotBase(this.#words, workerId);
    this.#foldSlot(base);
    const w = this.#words;
    for (let l = 0; l < kListenerSlots; l++) {
      const at = base + l * kListenerCells;
      // The cells count from the worker's start (a slot is zeroed before each start) modulo 2^32; the
      // difference modulo 2^32 is exact, as fewer than 2^32 connections are open at once.
      let open = w[at + kAcceptedCell];
      for (let e = 0; e < connectionEnds.length; e++) open = (open - w[at + kFirstEndCell + e]) | 0;
      this.#dropped[l] += open >>> 0;
    }
    // Atomics.store: the replacement thread, started after this, must read zeros.
    for (let i = base; i < base + kSlotWords; i++) { Atomics.store(w, i, 0); this.#seen[i] = 0; }
  }

  /** Listener slot `l` is given to a new listener: its counts start from zero. */
  resetListener(l: number): void {
    this.fold();
    this.#totals.fill(0, l * kListenerCells, (l + 1) * kListenerCells);
    this.#dropped[l] = 0;
  }

  listener(l: number): ListenerTotals {
    this.fold();
    const t = this.#totals;
    const at = l * kListenerCells;
    const ends = Object.fromEntries(connectionEnds.map((n, e) => [n, t[at + kFirstEndCell + e]])) as ListenerTotals['ends'];
    ends.dropped_worker_exit = this.#dropped[l];
    const ended = Object.values(ends).reduce((a, b) => a + b, 0);
    const refusedBeforeAccept = Object.fromEntries(handshakeRefusals.map((n, k) => [n, t[at + kFirstHandshakeCell + k]])) as ListenerTotals['refusedBeforeAccept'];
    return { accepted: t[at + kAcceptedCell], forwarded: t[at + kForwardedCell], ends, active: Math.max(0, t[at + kAcceptedCell] - ended), refusedBeforeAccept };
  }

  /** The CONNECT-phase histogram, buckets cumulative as Prometheus wants them (the last is +Inf). */
  histogram(): HistogramTotals {
    this.fold();
    const t = this.#totals;
    const buckets: number[] = [];
    let running = 0;
    for (let b = 0; b <= kConnectBucketsSec.length; b++) buckets.push(running += t[kHistogramBase + b]);
    return { buckets, count: running, sumSec: t[kSumCell] / 1e6 };
  }

  #foldSlot(base: number): void {
    const w = this.#words;
    const seen = this.#seen;
    const totals = this.#totals;
    for (let k = 0; k < kHistogramBase + kHistogramCells; k++) {
      const at = base + k;
      // Atomics.load pairs with the worker's Atomics.add: never older than the last read.
      const now = Atomics.load(w, at);
      totals[k] += (now - seen[at]) >>> 0; // difference modulo 2^32: at most one wrap between two folds
      seen[at] = now;
    }
  }
}
