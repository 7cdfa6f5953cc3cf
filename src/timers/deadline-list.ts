// Timeouts of one fixed duration for many entries, from one timer: an intrusive FIFO list in arrival
// order, which is also deadline order (every entry waits the same time). Adding, removing and finding
// the oldest are O(1) and allocate nothing; one Node timer is armed for the oldest entry.
// Used per worker for the CONNECT timeout (its head is also the oldest pending connection, the one
// max_pending evicts first) and for the linger after a refusal.

/** The links an entry carries; an entry is in at most one DeadlineList at a time. */
export interface DeadlineEntry {
  deadlinePrev: DeadlineEntry | undefined;
  deadlineNext: DeadlineEntry | undefined;
  deadlineMs: number; // 0 while in no list
}

export class DeadlineList<T extends DeadlineEntry> {
  readonly #durationMs: number;
  readonly #onExpire: (entry: T) => void;
  readonly #now: () => number;
  #head: T | undefined;
  #tail: T | undefined;
  #size = 0;
  #timer: NodeJS.Timeout | undefined;

  /** onExpire runs for each entry whose time is up, after it has been removed from the list; it must not throw. */
  constructor(durationMs: number, onExpire: (entry: T) => void, now: () => number = Date.now) {
    if (!(durationMs > 0 && durationMs <= 2 ** 31 - 1)) throw new RangeError(`DeadlineList duration must be in (0, 2^31-1] ms, got ${durationMs}`);
    this.#durationMs = durationMs;
    this.#onExpire = onExpire;
    this.#now = now;
  }

  get size(): number {
    return this.#size;
  }

  /** The entry added first (whose deadline is nearest), if any. */
  oldest(): T | undefined {
    return this.#head;
  }

  /** Appends `entry`, due durationMs from now. */
  add(entry: T): void {
    if (entry.deadlineMs !== 0) throw new Error('DeadlineList: entry is already in a list');
    entry.deadlineMs = this.#now() + this.#durationMs;
    entry.deadlinePrev = this.#tail;
    entry.deadlineNext = undefined;
    if (this.#tail) this.#tail.deadlineNext = entry;
    else this.#head = entry;
    this.#tail = entry;
    this.#size++;
    // An armed timer fires no later than this entry's deadline (FIFO): arm only an idle list.
    if (this.#timer === undefined) this.#arm(entry.deadlineMs);
  }

  /** Removes `entry` if it is in this list; its timeout will not fire. */
  remove(entry: T): void {
    if (entry.deadlineMs === 0) return;
    const prev = entry.deadlinePrev as T | undefined;
    const next = entry.deadlineNext as T | undefined;
    if (prev) prev.deadlineNext = next;
    else this.#head = next;
    if (next) next.deadlinePrev = prev;
    else this.#tail = prev;
    entry.deadlinePrev = entry.deadlineNext = undefined;
    entry.deadlineMs = 0;
    this.#size--;
    // The timer is left armed: when it fires it finds the new head and re-arms for it (lazy), so a
    // busy list costs one timer callback per duration, not a clearTimeout per removal.
    if (this.#size === 0) this.#disarm();
  }

  #arm(atMs: number): void {
    this.#timer = setTimeout(this.#fire, Math.max(1, atMs - this.#now()));
    this.#timer.unref(); // pending timeouts alone never keep a worker alive
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    const now = this.#now();
    // Expire what is due; an onExpire that adds entries appends them behind, due later.
    for (let e = this.#head; e !== undefined && e.deadlineMs <= now; e = this.#head) {
      this.remove(e);
      this.#onExpire(e);
    }
    if (this.#head && this.#timer === undefined) this.#arm(this.#head.deadlineMs);
  };
}
