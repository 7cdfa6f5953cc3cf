// Smooth weighted round-robin (nginx's algorithm, ngx_http_upstream_get_peer), state per worker.
import { eligibleBrokers } from './eligible.ts';
import type { BuildContext, RouteKey, Selector } from './strategy.ts';

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
   * Each call is one pick: every broker's current weight grows by its weight, the largest (first on
   * a tie, as nginx) leads and pays the total back. Weights {5,1,1} give a a b a c a a. The rest
   * follow by current weight, i.e. in the order they are due next.
   */
  candidates(_key: RouteKey): number[] {
    const n = this.#indexes.length;
    if (n === 0) return [];
    const current = this.#current;
    let best = 0;
    for (let k = 0; k < n; k++) {
      current[k] += this.#weights[k];
      if (current[k] > current[best]) best = k;
    }
    current[best] -= this.#totalWeight;
    const order: number[] = [];
    for (let k = 0; k < n; k++) if (k !== best) order.push(k);
    order.sort((a, b) => current[b] - current[a] || a - b);
    order.unshift(best);
    for (let k = 0; k < n; k++) order[k] = this.#indexes[order[k]];
    return order;
  }
}
