// Admission limits shared by all workers: a cap on open client connections and a global token bucket
// for the CONNECT rate. Both live in one SharedArrayBuffer so the limits hold across workers.

const kOpenClients = 0; // client connections currently open (any phase)
const kLock = 1; // spinlock guarding the bucket fields below (two fields must change together)
const kTokensMilli = 2; // tokens x 1000, so fractional refills are not lost
const kLastRefillMs = 3; // ms since kEpochMs, when tokens were last refilled
const fieldCount = 4;

export type AdmissionVerdict = 'ok' | 'max-connections' | 'connect-rate';

export class Admission {
  readonly #cells: Int32Array;
  readonly #maxConnections: number;
  readonly #ratePerSec: number;
  readonly #burstMilli: number;
  readonly #epochMs: number;

  static allocate(): SharedArrayBuffer {
    return new SharedArrayBuffer(fieldCount * Int32Array.BYTES_PER_ELEMENT);
  }

  /** epochMs must be the same in every thread (the primary's start time) so refill times agree. */
  constructor(sab: SharedArrayBuffer, limits: { maxConnections: number; connectRatePerSec: number; connectBurst: number }, epochMs: number) {
    this.#cells = new Int32Array(sab);
    this.#maxConnections = limits.maxConnections;
    this.#ratePerSec = limits.connectRatePerSec;
    this.#burstMilli = Math.min(2_000_000_000, limits.connectBurst * 1000);
    this.#epochMs = epochMs;
  }

  /** Primary only, before workers start: a full bucket. */
  init(nowMs: number): void {
    Atomics.store(this.#cells, kTokensMilli, this.#burstMilli);
    Atomics.store(this.#cells, kLastRefillMs, nowMs - this.#epochMs);
  }

  /** A client connected: count it, and say whether a limit refuses it. Always pair with release(). */
  admit(nowMs: number): AdmissionVerdict {
    // Atomics.add returns the old value, so concurrent accepts each see a distinct count.
    const open = Atomics.add(this.#cells, kOpenClients, 1) + 1;
    if (open > this.#maxConnections) return 'max-connections';
    if (this.#ratePerSec > 0 && !this.#takeToken(nowMs)) return 'connect-rate';
    return 'ok';
  }

  release(): void {
    Atomics.sub(this.#cells, kOpenClients, 1);
  }

  openClients(): number {
    return Atomics.load(this.#cells, kOpenClients);
  }

  #takeToken(nowMs: number): boolean {
    const c = this.#cells;
    // compareExchange acquires the lock; the critical section is a few arithmetic operations,
    // so spinning is cheaper than any blocking primitive here.
    while (Atomics.compareExchange(c, kLock, 0, 1) !== 0);
    try {
      const now = nowMs - this.#epochMs;
      const elapsedMs = Math.max(0, now - Atomics.load(c, kLastRefillMs));
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
