// What each worker holds of the process-wide counts (pending and admitted clients, live connections per
// broker), in one SharedArrayBuffer. Each worker adds to its own slot next to the global count; when a
// worker thread dies, its clients are gone, and the primary takes the dead worker's slot and subtracts
// exactly that from the global counts, so limits and least-connections see the truth again.

/** Most workers a table holds (the config's bound on `workers`); a worker's id (1-based) picks its slot. */
export const kMaxWorkers = 64;

// Per-worker slot: a 16-word (64-byte) header, then one word per broker. A slot is written by one worker
// only, so its words never contend with another worker's.
const kSlotHeaderWords = 16;
/** Slot header: clients of this worker still in the CONNECT phase. */
const kPendingField = 0;
/** Slot header: clients of this worker holding a max_connections slot (placing or forwarding). */
const kAdmittedField = 1;
/** Header word 0 of the whole buffer: how many broker words each slot has. */
const kBrokersField = 0;
const kHeaderWords = 16;

/** A dead worker's share, as taken by the primary. */
export type WorkerShareSnapshot = { pending: number; admitted: number; live: number[] };

export class WorkerShares {
  readonly #words: Int32Array;
  readonly #maxBrokers: number;
  readonly #slotWords: number;

  static allocate(maxBrokers: number, maxWorkers = kMaxWorkers): SharedArrayBuffer {
    const sab = new SharedArrayBuffer((kHeaderWords + maxWorkers * (kSlotHeaderWords + maxBrokers)) * 4);
    new Int32Array(sab)[kBrokersField] = maxBrokers; // a plain store: not shared with anyone yet
    return sab;
  }

  constructor(sab: SharedArrayBuffer) {
    this.#words = new Int32Array(sab);
    // Atomics.load: the buffer may come from another thread; read its header as published.
    this.#maxBrokers = Atomics.load(this.#words, kBrokersField);
    this.#slotWords = kSlotHeaderWords + this.#maxBrokers;
  }

  get maxWorkers(): number {
    return (this.#words.length - kHeaderWords) / this.#slotWords;
  }

  /** The slot of worker `workerId` (1-based), for that worker to count in. */
  slot(workerId: number): WorkerShare {
    return new WorkerShare(this.#words, this.#base(workerId), this.#maxBrokers);
  }

  /** Reads worker `workerId`'s share and zeroes it. Primary only, after that worker has exited. */
  take(workerId: number): WorkerShareSnapshot {
    const base = this.#base(workerId);
    const w = this.#words;
    // Atomics.exchange: read and zero in one step; the worker is gone, but its last writes must be seen.
    const live: number[] = [];
    for (let i = 0; i < this.#maxBrokers; i++) live.push(Atomics.exchange(w, base + kSlotHeaderWords + i, 0));
    return { pending: Atomics.exchange(w, base + kPendingField, 0), admitted: Atomics.exchange(w, base + kAdmittedField, 0), live };
  }

  #base(workerId: number): number {
    if (!(Number.isInteger(workerId) && workerId >= 1 && workerId <= this.maxWorkers)) {
      throw new RangeError(`worker id ${workerId} out of range 1..${this.maxWorkers}`);
    }
    return kHeaderWords + (workerId - 1) * this.#slotWords;
  }
}

/** One worker's slot. Atomics.add/sub throughout: the primary may read (take) from another thread. */
export class WorkerShare {
  readonly #words: Int32Array;
  readonly #base: number;
  readonly #maxBrokers: number;

  constructor(words: Int32Array, base: number, maxBrokers: number) {
    this.#words = words;
    this.#base = base;
    this.#maxBrokers = maxBrokers;
  }

  pendingAdded(): void { Atomics.add(this.#words, this.#base + kPendingField, 1); }
  pendingRemoved(): void { Atomics.sub(this.#words, this.#base + kPendingField, 1); }
  admitted(): void { Atomics.add(this.#words, this.#base + kAdmittedField, 1); }
  released(): void { Atomics.sub(this.#words, this.#base + kAdmittedField, 1); }

  brokerOpened(i: number): void { Atomics.add(this.#words, this.#brokerAt(i), 1); }
  brokerClosed(i: number): void { Atomics.sub(this.#words, this.#brokerAt(i), 1); }

  pending(): number { return Atomics.load(this.#words, this.#base + kPendingField); }
  admittedCount(): number { return Atomics.load(this.#words, this.#base + kAdmittedField); }

  #brokerAt(i: number): number {
    if (!(i >= 0 && i < this.#maxBrokers)) throw new RangeError(`broker index ${i} out of range 0..${this.#maxBrokers - 1}`);
    return this.#base + kSlotHeaderWords + i;
  }
}
