// Strategy registry: build the selector for a strategy name over one broker set.
import { ConsistentHashSelector } from './consistent-hash.ts';
import { LeastConnectionsSelector } from './least-connections.ts';
import { RandomSelector } from './random.ts';
import { RoundRobinSelector } from './round-robin.ts';
import { StickySelector } from './sticky.ts';
import type { BuildContext, Selector, StrategyName } from './strategy.ts';
import { WeightedRoundRobinSelector } from './weighted-round-robin.ts';

export type { BrokerSpec, BuildContext, RouteKey, Selector, StrategyName } from './strategy.ts';

/** Build once per broker set (the primary rebuilds on a change, workers swap in the new one). Throws on a bad set. */
export function buildSelector(name: StrategyName, ctx: BuildContext): Selector {
  switch (name) {
    case 'random':
      return new RandomSelector(ctx);
    case 'round-robin':
      return new RoundRobinSelector(ctx);
    case 'weighted-round-robin':
      return new WeightedRoundRobinSelector(ctx);
    case 'least-connections':
      return new LeastConnectionsSelector(ctx);
    case 'consistent-hash':
      return new ConsistentHashSelector(ctx);
    case 'sticky': {
      const fallback = ctx.stickyFallback ?? 'consistent-hash';
      if ((fallback as StrategyName) === 'sticky') throw new TypeError("stickyFallback can't be 'sticky'");
      return new StickySelector(ctx, buildSelector(fallback, ctx));
    }
    default:
      throw new TypeError(`unknown balancing strategy: ${String(name satisfies never)}`);
  }
}
