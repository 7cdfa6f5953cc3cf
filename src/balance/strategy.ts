// The balancing interface every strategy implements: build once per broker set, then walk candidates per client.
//
// Selection is Pingora's iter(): `first(key, cursor)` gives the preferred broker and `next(key,
// cursor)` the one after it, -1 when there are no more. The common case (the first candidate is
// healthy and answers) costs one pass over the brokers and allocates nothing: no array, no sort.
// The rest of the order is worked out only when the caller asks for it, i.e. when the first broker
// was down, draining or refused the connect. Health and draining stay outside the algorithms: the
// caller skips brokers it can't use and asks for the next.
//
// Where the iteration state lives, and why: placement is async. Between first() and next() a broker
// connect is awaited, and meanwhile the same worker places other clients through the same selector,
// so state kept in the selector (one shared cursor, or an iterator object it resets per call) would
// be overwritten by the next client's first(). The state is therefore the caller's: a
// SelectionCursor (cursor.ts) of a few numbers plus per-broker scratch, passed to every call of one
// walk. A caller keeps one per placement in flight, from a SelectionCursorPool, so steady state
// allocates nothing; the scratch grows once if a cursor meets a larger broker set.
//
// What a walk sees: the order as it stood when first() ran. Strategies whose order depends on
// changing state (live counts, rotation counters, nginx's current weights, random draws) take a
// snapshot of what the order needs into the cursor's scratch during first()'s one pass; next()
// finds the best remaining broker in that snapshot (O(n) per step, so a full walk is O(n^2): n is a
// broker count, and a walk past the first few candidates means brokers are failing). So walking a
// cursor to the end gives exactly the order candidates() returns, and both are what the strategy
// produced before the lazy iteration (test/balance/lazy-iteration.test.ts checks every strategy
// against a copy of the old sort-based code).
import type { BrokerTable } from '../brokers/broker-table.ts';
import type { KeyHash } from '../hash.ts';
import type { StickyTable } from '../sticky/table.ts';
import { SelectionCursor } from './cursor.ts';

/** One broker of the current set; its index in the BuildContext.brokers array is its BrokerTable slot. */
export type BrokerSpec = { name: string; weight: number };

/** What a client is routed by: the client id, else the username, else the source address; hashed once. */
export type RouteKey = { text: string; hash: KeyHash };

export interface Selector {
  /**
   * Start a walk for `key` on `cursor` (which it resets) and return the preferred broker index, or -1
   * if there is none (no broker with weight > 0). Allocation-free. Each broker index with weight > 0
   * comes once per walk; health and draining are the caller's business (skip, then call next()).
   */
  first(key: RouteKey, cursor: SelectionCursor): number;
  /**
   * The broker after the last one this walk returned, or -1 when every candidate was offered (and on
   * every later call). Same `key` and `cursor` as the walk's first(); call it on the selector that
   * ran first(), even if a new selector was swapped in meanwhile.
   */
  next(key: RouteKey, cursor: SelectionCursor): number;
  /**
   * The whole walk as an array: every broker index with weight > 0, in preference order, each once.
   * A convenience for tests and the admin API (it allocates); the data path uses first()/next().
   */
  candidates(key: RouteKey): number[];
  /**
   * Where `key` belongs by its hash alone, pins and rotation aside (consistent-hash, and sticky through
   * its consistent-hash fallback): what a rebalance moves clients to. Absent: the strategy gives keys no
   * fixed place. Uses `cursor` like first().
   */
  home?(key: RouteKey, cursor: SelectionCursor): number;
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
  /** Clock for sticky pins, whole seconds; must agree across workers and the primary's sweep (default: stickyNowSec, sticky/clock.ts). */
  nowSec?: () => number;
  /** Uniform in [0, 1); tests inject a seeded one. Default: FastRandom (fast-random.ts), as Math.random allocates per call. */
  random?: () => number;
  /** Told of every sticky outcome, so a worker can add it to the process-wide counters. */
  onStickyEvent?: (event: StickyEvent) => void;
  /** Consistent hash with bounded loads: no broker above loadBound x its weighted share (>= 1; unset = off). */
  loadBound?: number;
};

/** One day: brokers keep persistent sessions for about that long by default. */
export const kDefaultStickyTtlSec = 86_400;

/** candidates() for any selector: one whole walk on a cursor of its own. */
export function walkAll(selector: Selector, key: RouteKey, cursor: SelectionCursor = new SelectionCursor()): number[] {
  const order: number[] = [];
  for (let broker = selector.first(key, cursor); broker >= 0; broker = selector.next(key, cursor)) order.push(broker);
  return order;
}
