// Placement of one client whose CONNECT is read: its route key, the candidate brokers in preference
// order (healthy, not draining), and a connect to each until one answers. Returns a result kind; the
// connection source turns it into forwarding or a refusal. A throw from here is a Sluice bug: the caller
// refuses that one client (internal error), logs and counts it, and the worker goes on.
import type { Socket } from 'node:net';
import type { ConnectInfo } from '../src/mqtt/connect.ts';
import type { RouteKey } from '../src/balance/strategy.ts';
import { SelectionCursorPool } from '../src/balance/cursor.ts';
import { hashKey } from '../src/hash.ts';
import { routeKeyText } from './route-key.ts';
import { connectBroker } from './broker-connect.ts';
import type { WorkerContext } from './worker-context.ts';

export type Placement =
  | { kind: 'placed'; broker: number; socket: Socket; key: RouteKey; pinned: boolean }
  | { kind: 'no-broker' } // every candidate was tried (or none is healthy)
  | { kind: 'client-gone' }; // the client closed while a broker was being connected

/** SLUICE_TEST_HOOKS=1 only: a client with this id makes placement throw (proves a throw costs one client). */
export const kThrowingClientId = 'sluice-test-hook-placement-throws';
const testHooks = process.env.SLUICE_TEST_HOOKS === '1';
/** Cursors of this worker's placements in flight, reused (a throw just leaves one to the GC). */
const cursors = new SelectionCursorPool();

export async function placeClient(
  ctx: WorkerContext, connectionId: number, connect: ConnectInfo, remoteAddress: string | undefined, clientGone: () => boolean,
): Promise<Placement> {
  if (testHooks && connect.clientId === kThrowingClientId) throw new Error('placement failure requested by a test hook');
  const keyText = routeKeyText(ctx.config.balance.key, connect, remoteAddress);
  // No key at all (every source empty): place by a one-off key, so the strategy still spreads load.
  const key: RouteKey = keyText
    ? { text: keyText.text, hash: hashKey(keyText.text) }
    : { text: `conn:${connectionId}`, hash: hashKey(`conn:${process.pid}:${ctx.workerId}:${connectionId}:${Date.now()}`) };
  const brokers = ctx.config.brokers;
  // Lazy walk (src/balance/strategy.ts): this placement's own cursor, as other clients are placed on
  // this worker while a broker connect is awaited; the walk stays on the selector it began on.
  const selector = ctx.selector;
  const cursor = cursors.acquire();
  for (let index = selector.first(key, cursor); index >= 0; index = selector.next(key, cursor)) {
    if (!ctx.brokerTable.isHealthy(index) || ctx.brokerTable.isDraining(index)) continue;
    const b = brokers[index];
    const result = await connectBroker(b.host, b.port, ctx.config.limits.brokerConnectTimeoutMs);
    if (clientGone()) {
      if (result.ok) result.socket.destroy();
      cursors.release(cursor);
      return { kind: 'client-gone' };
    }
    if (!result.ok) {
      ctx.counters.add('broker_connect_failures');
      ctx.faultLog.warn('broker_connect_failed', { broker: b.name, address: b.address, why: result.reason }, 'broker connect failed; trying the next candidate');
      continue;
    }
    cursors.release(cursor);
    if (keyText) selector.placed?.(key, index);
    return { kind: 'placed', broker: index, socket: result.socket, key, pinned: keyText !== undefined };
  }
  cursors.release(cursor);
  return { kind: 'no-broker' };
}
