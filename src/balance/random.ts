// Random strategy: weighted random order (each broker first with probability weight / total).
import type { SelectionCursor } from './cursor.ts';
import { eligibleBrokers } from './eligible.ts';
import { FastRandom, kRange30 } from './fast-random.ts';
import { type BuildContext, type RouteKey, type Selector, walkAll } from './strategy.ts';

export class RandomSelector implements Selector {
  readonly #indexes: number[];
  readonly #weights: number[];
  /** Injected source (tests), or undefined: then #fast, which never allocates. */
  readonly #random: (() => number) | undefined;
  readonly #fast = new FastRandom();

  constructor(ctx: BuildContext) {
    ({ indexes: this.#indexes, weights: this.#weights } = eligibleBrokers(ctx));
    this.#random = ctx.random;
  }

  /**
   * Efraimidis-Spirakis as an exponential race: broker k "arrives" at -ln(u) / w_k; the order of
   * arrival is a weighted random order whose head is broker k with probability w_k / sum(w). One
   * pass draws every arrival into the cursor (the rest of the order is fixed by them) and keeps the
   * earliest; equal arrivals go by position, as a stable sort would.
   */
  first(_key: RouteKey, cursor: SelectionCursor): number {
    const n = this.#indexes.length;
    cursor.reserve(n);
    const arrival = cursor.scores;
    // 1 - u is in (0, 1]: never log(0).
    const random = this.#random;
    if (random === undefined) for (let k = 0; k < n; k++) arrival[k] = -Math.log(1 - this.#fast.next30() / kRange30) / this.#weights[k];
    else for (let k = 0; k < n; k++) arrival[k] = -Math.log(1 - random()) / this.#weights[k];
    let best = -1;
    for (let k = 0; k < n; k++) if (best < 0 || arrival[k] < arrival[best]) best = k;
    cursor.offered = n === 0 ? 0 : 1;
    cursor.last = best;
    return best < 0 ? -1 : this.#indexes[best];
  }

  /** The next arrival after the last one offered (arrival, then position). */
  next(_key: RouteKey, cursor: SelectionCursor): number {
    const n = this.#indexes.length;
    if (cursor.offered >= n) return -1;
    const arrival = cursor.scores;
    const lastArrival = arrival[cursor.last];
    const last = cursor.last;
    let best = -1;
    for (let k = 0; k < n; k++) {
      const a = arrival[k];
      if (a < lastArrival || (a === lastArrival && k <= last)) continue; // offered already
      if (best < 0 || a < arrival[best]) best = k;
    }
    cursor.offered++;
    cursor.last = best;
    return this.#indexes[best];
  }

  candidates(key: RouteKey): number[] {
    return walkAll(this, key);
  }
}
