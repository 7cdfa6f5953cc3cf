// A caller's place in one walk over a selector's candidates, and a free list of them (see strategy.ts).

/** Broker slots a fresh cursor has scratch room for; a walk over more brokers grows it once. */
const kInitialScratch = 16;
/** Cursors a pool keeps for reuse; beyond that, released cursors are left to the GC. */
const kDefaultPoolSize = 1024;

/**
 * The iteration state of one walk: `selector.first(key, cursor)` resets and fills it, each
 * `selector.next(key, cursor)` moves it on. The caller owns it, so two placements in flight on one
 * worker (each awaiting its own broker connect) never share one; reusing it for the next walk
 * allocates nothing. Fields are the selectors' business (strategy-specific meanings, below); only
 * `first()` of the selector that walks it may reset them.
 */
export class SelectionCursor {
  /** Candidates offered so far in this walk. */
  offered = 0;
  /** Position (in the selector's list of brokers with weight > 0) of the candidate offered last; -1 = none yet. */
  last = -1;
  /** Round-robin's rotation start, least-connections' tie rotation start, weighted round-robin's pick. */
  start = 0;
  /** Per broker position: scores, loads or a snapshot of state, taken when first() ran (see each strategy). */
  scores: Float64Array = new Float64Array(kInitialScratch);
  /** Per broker position: a second value (consistent hash with bounded loads: live counts, then 1 = over its bound). */
  aux: Float64Array = new Float64Array(kInitialScratch);
  /** Sticky: the broker offered first that the fallback's walk must skip (-1 = none). */
  stickyPin = -1;
  /** Sticky: a fallback candidate already taken from the fallback but not offered yet (-1 = none). */
  stickyPending = -1;
  /** Sticky: whether the fallback's walk has begun on this cursor (its first() was called). */
  stickyFallbackStarted = false;

  /** Make room for `n` broker positions: allocates only when this cursor first meets a larger set. */
  reserve(n: number): void {
    if (this.scores.length >= n) return;
    let size = this.scores.length;
    while (size < n) size *= 2;
    this.scores = new Float64Array(size);
    this.aux = new Float64Array(size);
  }
}

/**
 * Cursors for placements in flight: acquire() before a walk, release() when it is over. A worker
 * holds at most as many as it has placements in flight, so after warm-up neither call allocates. A
 * cursor never released (a throw mid-walk) is simply left to the GC; release it only once.
 */
export class SelectionCursorPool {
  readonly #free: SelectionCursor[] = [];
  readonly #maxKept: number;

  constructor(maxKept = kDefaultPoolSize) {
    this.#maxKept = maxKept;
  }

  acquire(): SelectionCursor {
    return this.#free.pop() ?? new SelectionCursor();
  }

  release(cursor: SelectionCursor): void {
    if (this.#free.length < this.#maxKept) this.#free.push(cursor);
  }

  /** Cursors waiting for reuse (tests). */
  get size(): number {
    return this.#free.length;
  }
}
