// Rebalance, worker side: a broker came up and the primary asks for some of its share of the connected
// clients (src/primary/rebalancer.ts). A client qualifies when its key is homed on that broker (where
// consistent hashing places it, whatever its pin says): its pin is moved there first, then it is closed,
// so its reconnect lands on the new broker and stays (the same place hashing gives it once the pin expires).
import { SelectionCursor } from '../src/balance/cursor.ts';
import type { RouteKey } from '../src/balance/strategy.ts';
import type { WorkerContext } from './worker-context.ts';

/** One walk at a time (the moves of a tick run synchronously). */
const cursor = new SelectionCursor();

/** The client with `key` on broker `from` is homed on broker `to`: its pin now names `to`, true (the
 *  caller closes it). Otherwise nothing changes. */
export function repinIfHomedOn(ctx: WorkerContext, key: RouteKey, from: number, to: number): boolean {
  const selector = ctx.selector;
  if (from === to || selector.home === undefined || selector.home(key, cursor) !== to) return false;
  selector.placed?.(key, to);
  return true;
}
