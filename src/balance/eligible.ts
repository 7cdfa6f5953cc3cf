// Which brokers a selector may offer at all (weight > 0), checked once when the selector is built.
import type { BuildContext } from './strategy.ts';

export type Eligible = {
  /** Broker indexes with weight > 0, ascending. */
  indexes: number[];
  /** weights[k] = weight of indexes[k]. */
  weights: number[];
  /** Sum of weights. */
  totalWeight: number;
};

/** Validate the broker set (a boundary: throws on bad input) and keep the brokers with weight > 0. */
export function eligibleBrokers(ctx: BuildContext): Eligible {
  const { brokers, brokerTable } = ctx;
  if (brokers.length > brokerTable.maxBrokers) {
    throw new RangeError(`${brokers.length} brokers do not fit a broker table of ${brokerTable.maxBrokers}`);
  }
  const indexes: number[] = [];
  const weights: number[] = [];
  let totalWeight = 0;
  for (let i = 0; i < brokers.length; i++) {
    const { name, weight } = brokers[i];
    if (!(Number.isFinite(weight) && weight >= 0)) throw new RangeError(`broker ${i} (${name}): weight must be a finite number >= 0, got ${weight}`);
    if (weight === 0) continue; // drained: never a candidate
    indexes.push(i);
    weights.push(weight);
    totalWeight += weight;
  }
  return { indexes, weights, totalWeight };
}
