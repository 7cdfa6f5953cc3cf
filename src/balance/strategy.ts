// The balancing interface every strategy implements: build once per broker set, then ask for candidates per client.
import type { BrokerTable } from '../brokers/broker-table.ts';
import type { KeyHash } from '../hash.ts';
import type { StickyTable } from '../sticky/table.ts';

/** One broker of the current set; its index in the BuildContext.brokers array is its BrokerTable slot. */
export type BrokerSpec = { name: string; weight: number };

/** What a client is routed by: the client id, else the username, else the source address; hashed once. */
export type RouteKey = { text: string; hash: KeyHash };

export interface Selector {
  /**
   * Every broker index with weight > 0, in preference order, each once. Health and draining are
   * the caller's business: it walks the list and skips brokers it can't use (Pingora's iter()).
   */
  candidates(key: RouteKey): number[];
  /** The connection for `key` was forwarded to `broker`. */
  placed?(key: RouteKey, broker: number): void;
  /** A forwarded connection for `key` on `broker` ended (sticky: the TTL counts from here). */
  released?(key: RouteKey, broker: number): void;
}

/** Sticky outcomes: a valid pin, no pin, a pin to a gone/drained/reused broker, a pin that could not be written. */
export type StickyEvent = 'hits' | 'misses' | 'stale' | 'unrecorded';

export type StrategyName = 'random' | 'round-robin' | 'weighted-round-robin' | 'least-connections' | 'consistent-hash' | 'sticky';

export type BuildContext = {
  brokers: BrokerSpec[];
  brokerTable: BrokerTable;
  /** Required by 'sticky'. */
  stickyTable?: StickyTable;
  /** Sticky pins expire this long after last activity (default kDefaultStickyTtlSec). */
  stickyTtlSec?: number;
  /** The strategy behind the sticky table (default 'consistent-hash'). */
  stickyFallback?: Exclude<StrategyName, 'sticky'>;
  /** Clock for sticky pins, whole seconds; must agree across workers (default: wall clock). */
  nowSec?: () => number;
  /** Uniform in [0, 1) (default Math.random); tests inject a seeded one. */
  random?: () => number;
  /** Told of every sticky outcome, so a worker can add it to the process-wide counters. */
  onStickyEvent?: (event: StickyEvent) => void;
  /** Consistent hash with bounded loads: no broker above loadBound x its weighted share (>= 1; unset = off). */
  loadBound?: number;
};

/** One day: brokers keep persistent sessions for about that long by default. */
export const kDefaultStickyTtlSec = 86_400;
