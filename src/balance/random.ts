// Random strategy: weighted random order (each broker first with probability weight / total).
import { eligibleBrokers } from './eligible.ts';
import type { BuildContext, RouteKey, Selector } from './strategy.ts';

export class RandomSelector implements Selector {
  readonly #indexes: number[];
  readonly #weights: number[];
  readonly #random: () => number;

  constructor(ctx: BuildContext) {
    ({ indexes: this.#indexes, weights: this.#weights } = eligibleBrokers(ctx));
    this.#random = ctx.random ?? Math.random;
  }

  candidates(_key: RouteKey): number[] {
    // Efraimidis-Spirakis as an exponential race: broker k "arrives" at -ln(u) / w_k; sorting by
    // arrival gives a weighted random order whose head is broker k with probability w_k / sum(w).
    const n = this.#indexes.length;
    const arrival = new Array<number>(n);
    const order = new Array<number>(n);
    for (let k = 0; k < n; k++) {
      arrival[k] = -Math.log(1 - this.#random()) / this.#weights[k]; // 1 - u is in (0, 1]: never log(0)
      order[k] = k;
    }
    order.sort((a, b) => arrival[a] - arrival[b]);
    for (let k = 0; k < n; k++) order[k] = this.#indexes[order[k]];
    return order;
  }
}
