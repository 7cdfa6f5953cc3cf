// Least-connections strategy: fewest live connections per unit of weight first, from the shared broker table.
import type { BrokerTable } from '../brokers/broker-table.ts';
import { eligibleBrokers } from './eligible.ts';
import type { BuildContext, RouteKey, Selector } from './strategy.ts';

export class LeastConnectionsSelector implements Selector {
  readonly #indexes: number[];
  readonly #weights: number[];
  readonly #brokerTable: BrokerTable;
  readonly #random: () => number;

  constructor(ctx: BuildContext) {
    ({ indexes: this.#indexes, weights: this.#weights } = eligibleBrokers(ctx));
    this.#brokerTable = ctx.brokerTable;
    this.#random = ctx.random ?? Math.random;
  }

  candidates(_key: RouteKey): number[] {
    const n = this.#indexes.length;
    if (n === 0) return [];
    // Load counts the connection being placed, (live + 1) / weight, as HAProxy's leastconn does: with
    // all brokers idle the heaviest goes first instead of a tie, and weights are followed exactly.
    const load = new Array<number>(n);
    const order = new Array<number>(n);
    for (let k = 0; k < n; k++) {
      load[k] = (this.#brokerTable.liveConnections(this.#indexes[k]) + 1) / this.#weights[k];
      order[k] = k;
    }
    // Ties go in rotation from a random start, so workers racing on equal counts spread out.
    const start = Math.floor(this.#random() * n);
    order.sort((a, b) => load[a] - load[b] || ((a - start + n) % n) - ((b - start + n) % n));
    for (let k = 0; k < n; k++) order[k] = this.#indexes[order[k]];
    return order;
  }
}
