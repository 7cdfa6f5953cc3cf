// Smooth weighted round-robin (nginx's algorithm, ngx_http_upstream_get_peer), state per worker.
import type { SelectionCursor } from './cursor.ts';
import { eligibleBrokers } from './eligible.ts';
import { type BuildContext, type RouteKey, type Selector, walkAll } from './strategy.ts';

export class WeightedRoundRobinSelector implements Selector {
  readonly #indexes: number[];
  readonly #weights: number[];
  readonly #totalWeight: number;
  /** nginx's current_weight per eligible broker. */
  readonly #current: number[];

  constructor(ctx: BuildContext) {
    ({ indexes: this.#indexes, weights: this.#weights, totalWeight: this.#totalWeight } = eligibleBrokers(ctx));
    this.#current = this.#weights.map(() => 0);
  }

  /**
   * Each walk is one pick: every broker's current weight grows by its weight, the largest (first on
   * a tie, as nginx) leads and pays the total back. Weights {5,1,1} give a a b a c a a. The current
   * weights after the pick go into the cursor: the rest of the walk follows them (below), even when
   * other clients' picks have moved the selector's own on since.
   */
  first(_key: RouteKey, cursor: SelectionCursor): number {
    const n = this.#indexes.length;
    cursor.offered = 0;
    if (n === 0) return -1;
    const current = this.#current;
    let best = 0;
    for (let k = 0; k < n; k++) {
      current[k] += this.#weights[k];
      if (current[k] > current[best]) best = k;
    }
    current[best] -= this.#totalWeight;
    cursor.reserve(n);
    const snapshot = cursor.scores;
    for (let k = 0; k < n; k++) snapshot[k] = current[k];
    cursor.start = best;
    cursor.last = -1;
    cursor.offered = 1;
    return this.#indexes[best];
  }

  /** After the pick, the others by current weight (highest first, then position): who is due next. */
  next(_key: RouteKey, cursor: SelectionCursor): number {
    const n = this.#indexes.length;
    if (cursor.offered >= n) return -1;
    const current = cursor.scores;
    const pick = cursor.start;
    const last = cursor.last;
    const lastWeight = last < 0 ? 0 : current[last];
    let best = -1;
    for (let k = 0; k < n; k++) {
      if (k === pick) continue;
      if (last >= 0 && (current[k] > lastWeight || (current[k] === lastWeight && k <= last))) continue; // offered already
      if (best < 0 || current[k] > current[best]) best = k;
    }
    cursor.offered++;
    cursor.last = best;
    return this.#indexes[best];
  }

  candidates(key: RouteKey): number[] {
    return walkAll(this, key);
  }
}
