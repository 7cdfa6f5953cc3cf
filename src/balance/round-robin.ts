// Round-robin strategy: plain rotation over brokers with weight > 0, one counter shared by all workers.
import type { BrokerTable } from '../brokers/broker-table.ts';
import type { SelectionCursor } from './cursor.ts';
import { eligibleBrokers } from './eligible.ts';
import { type BuildContext, type RouteKey, type Selector, walkAll } from './strategy.ts';

export class RoundRobinSelector implements Selector {
  readonly #indexes: number[];
  readonly #brokerTable: BrokerTable;

  constructor(ctx: BuildContext) {
    this.#indexes = eligibleBrokers(ctx).indexes;
    this.#brokerTable = ctx.brokerTable;
  }

  /** One ticket from the shared counter: N workers together still go a, b, c, a, ... */
  first(_key: RouteKey, cursor: SelectionCursor): number {
    const n = this.#indexes.length;
    cursor.offered = 0;
    if (n === 0) return -1;
    cursor.start = this.#brokerTable.nextRoundRobin() % n;
    cursor.offered = 1;
    return this.#indexes[cursor.start];
  }

  /** The rest follow the rotation: start + 1, start + 2, ... (no ticket taken). */
  next(_key: RouteKey, cursor: SelectionCursor): number {
    const n = this.#indexes.length;
    if (cursor.offered >= n) return -1;
    return this.#indexes[(cursor.start + cursor.offered++) % n];
  }

  candidates(key: RouteKey): number[] {
    return walkAll(this, key);
  }
}
