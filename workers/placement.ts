// Placement of one client whose CONNECT is read, for every connection source: its route key, the
// candidate brokers in preference order (healthy, not draining), the broker connect failures counted,
// and the sticky pin recorded once a broker answered. No sockets here: each source connects its own way
// (Node sockets, or the native engine) and tells the attempt how it went. A throw from here is a Sluice
// bug: the source refuses that one client (internal error), logs and counts it, and the worker goes on.
import type { ConnectInfo } from '../src/mqtt/connect.ts';
import type { RouteKey, Selector } from '../src/balance/strategy.ts';
import { SelectionCursorPool, type SelectionCursor } from '../src/balance/cursor.ts';
import { hashKey } from '../src/hash.ts';
import { connackCode, isBrokerRefusal, readAssignedClientId } from '../src/mqtt/connack-reader.ts';
import { FastRandom, kRange30 } from '../src/balance/fast-random.ts';
import { slowStartShare } from '../src/brokers/slow-start.ts';
import { routeKeyText } from './route-key.ts';
import type { WorkerContext } from './worker-context.ts';

/**
 * Whether to read this client's CONNACK: an MQTT 5 client with an empty client id gets its id there, and
 * the id will be its route key when it reconnects with it (no cert-cn or user name before it in balance.key).
 */
export function wantsAssignedId(ctx: WorkerContext, connect: ConnectInfo, certCn?: string): boolean {
  return connect.protocolLevel === 5 && connect.clientId === '' && routeKeyText(ctx.config.balance.key, { ...connect, clientId: '-' }, undefined, certCn)?.source === 'client-id';
}

/**
 * The broker's first bytes for a client that connected with an empty client id: the Assigned Client
 * Identifier in its CONNACK is pinned to `broker`, so the client's reconnect with that id finds its
 * session there. Counted and logged at debug.
 */
function pinAssignedId(ctx: WorkerContext, broker: number, firstBytes: Uint8Array): void {
  const r = readAssignedClientId(firstBytes);
  if (r.kind !== 'assigned') {
    if (ctx.log.isLevelEnabled('debug')) ctx.log.debug({ broker: ctx.config.brokers[broker]?.name, connack: r.kind, why: r.kind === 'invalid' ? r.reason : undefined }, 'no assigned client id to pin');
    return;
  }
  // The key the reconnect will have (route-key.ts: a client id is keyed `c:<id>`).
  const text = `c:${r.clientId}`;
  ctx.selector.placed?.({ text, hash: hashKey(text) }, broker);
  ctx.counters.add('assigned_ids_pinned');
  if (ctx.log.isLevelEnabled('debug')) ctx.log.debug({ clientId: r.clientId, broker: ctx.config.brokers[broker]?.name }, 'assigned client id pinned to its broker');
}

/**
 * The broker's first bytes (its CONNACK) on a forwarded connection: passive health (`judge`) counts a
 * refusal for the broker's own state (unavailable, busy, over a limit) as a failure and an acceptance as the
 * end of a run; `pin`: an MQTT 5 client with an empty client id, whose assigned id is pinned.
 */
export function brokerFirstBytes(ctx: WorkerContext, broker: number, bytes: Uint8Array, judge: boolean, pin: boolean): void {
  if (judge) judgeConnack(ctx, broker, bytes);
  if (pin) pinAssignedId(ctx, broker, bytes);
}

function judgeConnack(ctx: WorkerContext, broker: number, bytes: Uint8Array): void {
  const code = connackCode(bytes);
  if (code === 0) ctx.brokerTable.connectSucceeded(broker);
  if (!isBrokerRefusal(code)) return;
  const b = ctx.config.brokers[broker];
  ctx.counters.add('broker_connack_refusals');
  ctx.brokerTable.connectFailed(broker, true);
  ctx.faultLog.warn('broker_connack_refused', { broker: b?.name, address: b?.address, code: `0x${code.toString(16).padStart(2, '0')}` },
    'broker refused a client with a CONNACK that says it is unavailable or busy; counted against it');
}

/** SLUICE_TEST_HOOKS=1 only: a client with this id makes placement throw (proves a throw costs one client). */
export const kThrowingClientId = 'sluice-test-hook-placement-throws';
const testHooks = process.env.SLUICE_TEST_HOOKS === '1';
/** Cursors of this worker's placements in flight, reused (a throw just leaves one to the GC). */
const cursors = new SelectionCursorPool();
/** Draws for slow start (allocation-free; not for cryptography). */
const rampRandom = new FastRandom();

export class PlacementAttempt {
  readonly key: RouteKey;
  /** The key came from the client (id, user name or address): its placement is pinned. */
  readonly pinned: boolean;
  /** The broker being tried (after next()), or -1. */
  broker = -1;
  /** Passive health is on: the broker's CONNACK is read, and it (not the TCP connect) ends a run of failures. */
  readonly judgesConnack: boolean;
  readonly #ctx: WorkerContext;
  // The walk stays on the selector it began on; its cursor is this placement's own (other clients are
  // placed on this worker while a broker connect is awaited), back to the pool when the walk is over.
  readonly #selector: Selector;
  #cursor: SelectionCursor | undefined;
  #started = false;
  /** The first broker skipped for its slow start: the walk's last resort. */
  #rampSkipped = -1;

  /** remoteAddress is asked only when the route key needs it (an empty client id and user name);
   *  certCn is the client certificate's CN on a TLS listener that asks for one. */
  constructor(ctx: WorkerContext, connectionId: number, connect: ConnectInfo, remoteAddress: () => string | undefined, certCn?: string) {
    if (testHooks && connect.clientId === kThrowingClientId) throw new Error('placement failure requested by a test hook');
    this.#ctx = ctx;
    const keyText = routeKeyText(ctx.config.balance.key, connect, remoteAddress, certCn);
    // No key at all (every source empty): place by a one-off key, so the strategy still spreads load.
    this.key = keyText
      ? { text: keyText.text, hash: hashKey(keyText.text) }
      : { text: `conn:${connectionId}`, hash: hashKey(`conn:${process.pid}:${ctx.workerId}:${connectionId}:${Date.now()}`) };
    this.pinned = keyText !== undefined;
    this.judgesConnack = ctx.brokerTable.passiveFailures() > 0;
    this.#selector = ctx.selector;
    this.#cursor = cursors.acquire();
  }

  /** The next broker to try (healthy and not draining), or -1 when every candidate was tried. */
  next(): number {
    const { brokerTable } = this.#ctx;
    const cursor = this.#cursor;
    if (cursor === undefined) return -1;
    for (;;) {
      const index = this.#started ? this.#selector.next(this.key, cursor) : this.#selector.first(this.key, cursor);
      this.#started = true;
      if (index < 0) {
        this.#done();
        // Every other candidate was down, draining or tried: a ramping broker is better than none.
        this.broker = this.#rampSkipped;
        this.#rampSkipped = -1;
        return this.broker;
      }
      if (!brokerTable.isHealthy(index) || brokerTable.isDraining(index)) continue;
      // Slow start: a broker that just came up takes a growing share of new clients; a client pinned
      // to it (its session is there) always goes. Skipped, it is still the last resort of this walk.
      if (cursor.stickyPin !== index && this.#ramping(index)) {
        if (this.#rampSkipped < 0) this.#rampSkipped = index;
        continue;
      }
      this.broker = index;
      return index;
    }
  }

  /** Broker `index` is in its slow start and this client is not its share of it (a random draw). */
  #ramping(index: number): boolean {
    const rampMs = this.#ctx.config.brokers[index].slowStartMs ?? 0;
    if (rampMs === 0) return false; // the common case: no ramp, nothing read
    const share = slowStartShare(rampMs, this.#ctx.brokerTable.upSince(index));
    return share < 1 && rampRandom.next30() / kRange30 >= share;
  }

  /** The connect to this.broker failed (`why`: an errno name): counted and logged; try next(). */
  failed(why: string): void {
    const b = this.#ctx.config.brokers[this.broker];
    this.#ctx.counters.add('broker_connect_failures');
    this.#ctx.brokerTable.connectFailed(this.broker);
    this.#ctx.faultLog.warn('broker_connect_failed', { broker: b.name, address: b.address, why }, 'broker connect failed; trying the next candidate');
  }

  /** this.broker answered: the client's pin follows it, and the walk is over. */
  placed(): void {
    this.#done();
    // Judged by its CONNACK, a broker that accepts connects but refuses every client is not let off here.
    if (!this.judgesConnack) this.#ctx.brokerTable.connectSucceeded(this.broker);
    if (this.pinned) this.#selector.placed?.(this.key, this.broker);
  }

  #done(): void {
    if (this.#cursor !== undefined) cursors.release(this.#cursor);
    this.#cursor = undefined;
  }
}
