// Admission limits shared by all workers: a bound on clients still in the CONNECT phase (max_pending,
// split evenly between the workers),
// a cap on admitted clients (max_connections: CONNECT read, placing or forwarding) and a global token
// bucket for the CONNECT rate. All live in one SharedArrayBuffer so the limits hold across workers; a
// worker also counts in its own WorkerShare, so a dead worker's part can be released exactly.
import type { WorkerShare, WorkerShareSnapshot } from './worker-shares.ts';

const kOpenClients = 0; // admitted clients (any worker): placing or forwarding
const kLock = 1; // spinlock guarding the bucket fields below (two fields must change together)
const kTokensMilli = 2; // tokens x 1000, so fractional refills are not lost
const kLastRefillMs = 3; // ms since epochMs, modulo 2^32 (an Int32 wraps after 24.8 days), when tokens were last refilled
const kPendingClients = 4; // accepted clients whose CONNECT is not read yet (any worker)
const fieldCount = 5;

export type AdmissionVerdict = 'ok' | 'max-connections' | 'connect-rate';

export type AdmissionLimits = { maxConnections: number; maxPendingPerWorker: number; connectRatePerSec: number; connectBurst: number };

export class Admission {
  readonly #cells: Int32Array;
  readonly #maxConnections: number;
  readonly #maxPendingPerWorker: number;
  readonly #ratePerSec: number;
  readonly #burstMilli: number;
  readonly #epochMs: number;
  readonly #share: WorkerShare | undefined;

  static allocate(): SharedArrayBuffer {
    return new SharedArrayBuffer(fieldCount * Int32Array.BYTES_PER_ELEMENT);
  }

  /**
   * epochMs must be the same in every thread (the primary's start time) so refill times agree.
   * `share` is the calling worker's slot (workers); the primary passes none.
   */
  constructor(sab: SharedArrayBuffer, limits: AdmissionLimits, epochMs: number, share?: WorkerShare) {
    this.#cells = new Int32Array(sab);
    this.#maxConnections = limits.maxConnections;
    this.#maxPendingPerWorker = limits.maxPendingPerWorker;
    this.#ratePerSec = limits.connectRatePerSec;
    this.#burstMilli = Math.min(2_000_000_000, limits.connectBurst * 1000);
    this.#epochMs = epochMs;
    this.#share = share;
  }

  /** Primary only, before workers start: a full bucket. */
  init(nowMs: number): void {
    Atomics.store(this.#cells, kTokensMilli, this.#burstMilli);
    Atomics.store(this.#cells, kLastRefillMs, nowMs - this.#epochMs);
  }

  /**
   * A client was accepted and its CONNECT is to be read: count it. Returns false when that puts this
   * worker over its part of max_pending (the caller makes room: it evicts its own oldest pending client).
   * Each worker bounds its own part (max_pending / workers), so room is always made where the new client
   * is, and a worker never has to turn away a new client because another worker holds the pending room.
   * Always pair with pendingEnded(). Workers only (needs the share).
   */
  pendingStarted(): boolean {
    const share = this.#share!;
    share.pendingAdded();
    // Atomics.add: the global count is for the admin view; the bound is per worker (its share).
    Atomics.add(this.#cells, kPendingClients, 1);
    return share.pending() <= this.#maxPendingPerWorker;
  }

  pendingEnded(): void {
    this.#share?.pendingRemoved();
    Atomics.sub(this.#cells, kPendingClients, 1);
  }

  /**
   * A client's CONNECT is read: take a max_connections slot and a rate token. On 'ok' the slot is held
   * until release(); on a refusal nothing is held.
   */
  admit(nowMs: number): AdmissionVerdict {
    // Atomics.add returns the old value, so concurrent admits each see a distinct count.
    const open = Atomics.add(this.#cells, kOpenClients, 1) + 1;
    let verdict: AdmissionVerdict = 'ok';
    if (open > this.#maxConnections) verdict = 'max-connections';
    else if (this.#ratePerSec > 0 && !this.#takeToken(nowMs)) verdict = 'connect-rate';
    if (verdict !== 'ok') Atomics.sub(this.#cells, kOpenClients, 1);
    else this.#share?.admitted();
    return verdict;
  }

  release(): void {
    this.#share?.released();
    Atomics.sub(this.#cells, kOpenClients, 1);
  }

  /** Primary: a dead worker's clients are gone; give back what its share held. */
  releaseShare(share: WorkerShareSnapshot): void {
    // Atomics.sub: live workers keep counting in the same cells meanwhile.
    if (share.admitted !== 0) Atomics.sub(this.#cells, kOpenClients, share.admitted);
    if (share.pending !== 0) Atomics.sub(this.#cells, kPendingClients, share.pending);
  }

  openClients(): number {
    return Atomics.load(this.#cells, kOpenClients);
  }

  pendingClients(): number {
    return Atomics.load(this.#cells, kPendingClients);
  }

  #takeToken(nowMs: number): boolean {
    const c = this.#cells;
    // compareExchange acquires the lock; the critical section is a few arithmetic operations,
    // so spinning is cheaper than any blocking primitive here.
    while (Atomics.compareExchange(c, kLock, 0, 1) !== 0);
    try {
      const now = (nowMs - this.#epochMs) | 0;
      // Subtraction modulo 2^32 is exact for gaps below 24.8 days, however long Sluice has run; a gap
      // longer than that (no CONNECT for weeks) comes out negative and means a full bucket.
      const sinceLast = (now - Atomics.load(c, kLastRefillMs)) | 0;
      const elapsedMs = sinceLast < 0 ? this.#burstMilli : sinceLast;
      const refill = Math.floor(elapsedMs * this.#ratePerSec); // tokens/s x ms = milli-tokens
      let tokens = Math.min(this.#burstMilli, Atomics.load(c, kTokensMilli) + refill);
      if (refill > 0) Atomics.store(c, kLastRefillMs, now);
      if (tokens < 1000) {
        Atomics.store(c, kTokensMilli, tokens);
        return false;
      }
      tokens -= 1000;
      Atomics.store(c, kTokensMilli, tokens);
      return true;
    } finally {
      // Atomics.store releases the lock and publishes the bucket fields written above.
      Atomics.store(c, kLock, 0);
    }
  }
}
