// Round-robin strategy: plain rotation over brokers with weight > 0, one counter shared by all workers.
import type { BrokerTable } from '../brokers/broker-table.ts';
import { eligibleBrokers } from './eligible.ts';
import type { BuildContext, RouteKey, Selector } from './strategy.ts';

export class RoundRobinSelector implements Selector {
  readonly #indexes: number[];
  readonly #brokerTable: BrokerTable;

  constructor(ctx: BuildContext) {
    this.#indexes = eligibleBrokers(ctx).indexes;
    this.#brokerTable = ctx.brokerTable;
  }

  candidates(_key: RouteKey): number[] {
    const n = this.#indexes.length;
    if (n === 0) return [];
    // The shared counter makes the rotation global: N workers together still go a, b, c, a, ...
    const start = this.#brokerTable.nextRoundRobin() % n;
    const order = new Array<number>(n);
    for (let k = 0; k < n; k++) order[k] = this.#indexes[(start + k) % n];
    return order;
  }
}
