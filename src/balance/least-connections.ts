// Least-connections strategy: fewest live connections per unit of weight first, from the shared broker table.
import type { BrokerTable } from '../brokers/broker-table.ts';
import type { SelectionCursor } from './cursor.ts';
import { eligibleBrokers } from './eligible.ts';
import { FastRandom, kRange30 } from './fast-random.ts';
import { type BuildContext, type RouteKey, type Selector, walkAll } from './strategy.ts';

export class LeastConnectionsSelector implements Selector {
  readonly #indexes: number[];
  readonly #weights: number[];
  readonly #brokerTable: BrokerTable;
  /** Injected source (tests), or undefined: then #fast, which never allocates. */
  readonly #random: (() => number) | undefined;
  readonly #fast = new FastRandom();

  constructor(ctx: BuildContext) {
    ({ indexes: this.#indexes, weights: this.#weights } = eligibleBrokers(ctx));
    this.#brokerTable = ctx.brokerTable;
    this.#random = ctx.random;
  }

  /**
   * Load counts the connection being placed, (live + 1) / weight, as HAProxy's leastconn does: with
   * all brokers idle the heaviest goes first instead of a tie, and weights are followed exactly.
   * Ties go in rotation from a random start, so workers racing on equal counts spread out. One pass
   * reads every live count into the cursor (the walk goes by these counts, not later ones).
   */
  first(_key: RouteKey, cursor: SelectionCursor): number {
    const n = this.#indexes.length;
    cursor.offered = 0;
    if (n === 0) return -1;
    cursor.reserve(n);
    const load = cursor.scores;
    const start = this.#random === undefined ? Math.floor((this.#fast.next30() / kRange30) * n) : Math.floor(this.#random() * n);
    let best = -1;
    let bestRot = 0;
    for (let k = 0; k < n; k++) {
      load[k] = (this.#brokerTable.liveConnections(this.#indexes[k]) + 1) / this.#weights[k];
      const rot = k >= start ? k - start : k - start + n; // place in the rotation from `start`
      if (best < 0 || load[k] < load[best] || (load[k] === load[best] && rot < bestRot)) {
        best = k;
        bestRot = rot;
      }
    }
    cursor.start = start;
    cursor.offered = 1;
    cursor.last = best;
    return this.#indexes[best];
  }

  /** The next by (load, rotation) after the last one offered. */
  next(_key: RouteKey, cursor: SelectionCursor): number {
    const n = this.#indexes.length;
    if (cursor.offered >= n) return -1;
    const load = cursor.scores;
    const start = cursor.start;
    const lastLoad = load[cursor.last];
    const lastRot = cursor.last >= start ? cursor.last - start : cursor.last - start + n;
    let best = -1;
    let bestRot = 0;
    for (let k = 0; k < n; k++) {
      const rot = k >= start ? k - start : k - start + n;
      if (load[k] < lastLoad || (load[k] === lastLoad && rot <= lastRot)) continue; // offered already
      if (best < 0 || load[k] < load[best] || (load[k] === load[best] && rot < bestRot)) {
        best = k;
        bestRot = rot;
      }
    }
    cursor.offered++;
    cursor.last = best;
    return this.#indexes[best];
  }

  candidates(key: RouteKey): number[] {
    return walkAll(this, key);
  }
}
