// Sticky strategy: the shared sticky table in front of another strategy (consistent hash by default).
//
// A client whose key has a live pin to a broker that is still in the set, with weight > 0 and the
// generation the pin was made under, is offered that broker first, then the fallback's order without
// it; anything else gets the fallback's order. placed() records the broker the client ended up on
// (an update when the pin was unusable and the client was re-placed). A full table never fails a
// connection: the client is placed by the fallback and the miss is counted.
//
// A key with no pin is claimed (pinned to the fallback's first choice) before anyone connects, so that
// workers placing the same new client at the same moment agree: the loser of the claim follows the
// winner's pin. Waiting for a winner that is mid-insert is bounded (spins, then ~10 ms of short
// sleeps, only when its thread was descheduled); past that the client is placed by the fallback.
import type { BrokerTable } from '../brokers/broker-table.ts';
import type { StickyTable } from '../sticky/table.ts';
import type { BuildContext, RouteKey, Selector, StickyEvent } from './strategy.ts';
import { kDefaultStickyTtlSec } from './strategy.ts';

export type StickySelectorStats = {
  /** candidates() that put a valid pin first. */
  hits: number;
  /** candidates() with no live pin. */
  misses: number;
  /** candidates() whose pin named a broker gone from the set, drained (weight 0) or re-used (generation). */
  stale: number;
  /** placed() that could not record (table window full, or busy): the client was placed anyway. */
  unrecorded: number;
};

/** Tries to claim or find a new key's pin while a competing insert publishes: spins, then short sleeps. */
const kClaimSpins = 32;
const kClaimAttempts = kClaimSpins + 200;
const kClaimSleepMs = 0.05;
// Atomics.wait needs a shared cell; nothing ever notifies it, so each wait simply times out.
const claimSleepCell = new Int32Array(new SharedArrayBuffer(4));

function wallClockSec(): number {
  return Math.floor(Date.now() / 1000);
}

export class StickySelector implements Selector {
  readonly #fallback: Selector;
  readonly #table: StickyTable;
  readonly #brokerTable: BrokerTable;
  /** weight > 0 per broker index, for checking a pin against the current set. */
  readonly #usable: boolean[];
  readonly #ttlSec: number;
  readonly #nowSec: () => number;
  readonly #stats: StickySelectorStats = { hits: 0, misses: 0, stale: 0, unrecorded: 0 };
  readonly #onEvent: BuildContext['onStickyEvent'];

  constructor(ctx: BuildContext, fallback: Selector) {
    if (!ctx.stickyTable) throw new TypeError("strategy 'sticky' needs a stickyTable");
    const ttlSec = ctx.stickyTtlSec ?? kDefaultStickyTtlSec;
    if (!(Number.isInteger(ttlSec) && ttlSec > 0)) throw new RangeError(`stickyTtlSec must be a positive integer, got ${ttlSec}`);
    this.#fallback = fallback;
    this.#table = ctx.stickyTable;
    this.#brokerTable = ctx.brokerTable;
    this.#usable = ctx.brokers.map((b) => b.weight > 0);
    this.#ttlSec = ttlSec;
    this.#nowSec = ctx.nowSec ?? wallClockSec;
    this.#onEvent = ctx.onStickyEvent;
  }

  #count(event: StickyEvent): void {
    this.#stats[event]++;
    this.#onEvent?.(event);
  }

  candidates(key: RouteKey): number[] {
    const order = this.#fallback.candidates(key);
    const pin = this.#table.lookup(key.hash, this.#nowSec(), this.#ttlSec);
    if (!pin) {
      this.#count('misses');
      return this.#claim(key, order);
    }
    const broker = pin.broker;
    if (!this.#usable[broker] || this.#brokerTable.generation(broker) !== pin.generation) {
      this.#count('stale');
      return order;
    }
    this.#count('hits');
    const at = order.indexOf(broker);
    if (at > 0) {
      order.splice(at, 1);
      order.unshift(broker);
    }
    return order;
  }

  /**
   * First placement of a key: pin the preferred broker before connecting, so that workers placing the
   * same new key at once agree (the fallback's order can differ between them: bounded loads look at
   * live counts). If another worker's pin came first, follow it. placed() later moves the pin if the
   * client had to go elsewhere.
   */
  #claim(key: RouteKey, order: number[]): number[] {
    const first = order[0];
    if (first === undefined) return order;
    const now = this.#nowSec();
    for (let attempt = 0; attempt < kClaimAttempts; attempt++) {
      const result = this.#table.record(key.hash, first, this.#brokerTable.generation(first), now, this.#ttlSec, true);
      if (result === 'inserted' || result === 'updated' || result === 'full') return order; // ours, or no room: placed() counts it
      // 'existing': a pin (or a competing insert) is there; 'busy': slots locked by others, try again.
      const pin = this.#table.lookup(key.hash, now, this.#ttlSec);
      if (pin) {
        const at = order.indexOf(pin.broker);
        if (at > 0) {
          order.splice(at, 1);
          order.unshift(pin.broker);
        }
        return order;
      }
      // A competing insert of this key is between claim and publish (nanoseconds, unless its thread
      // was descheduled): spin a little, then yield the CPU in short sleeps. Bounded: ~10 ms at worst.
      if (attempt >= kClaimSpins) Atomics.wait(claimSleepCell, 0, 0, kClaimSleepMs);
    }
    return order;
  }

  placed(key: RouteKey, broker: number): void {
    const result = this.#table.record(key.hash, broker, this.#brokerTable.generation(broker), this.#nowSec(), this.#ttlSec);
    if (result === 'full' || result === 'busy') this.#count('unrecorded');
    this.#fallback.placed?.(key, broker);
  }

  released(key: RouteKey, broker: number): void {
    // TTL counts from the end of the last connection. A pin that expired and was swept while the
    // client stayed connected is made again here, so the session is still found on reconnect.
    const now = this.#nowSec();
    if (!this.#table.touch(key.hash, now)) this.#table.record(key.hash, broker, this.#brokerTable.generation(broker), now, this.#ttlSec);
    this.#fallback.released?.(key, broker);
  }

  /** This worker's counters (the table's own are shared: StickyTable.stats()). */
  stats(): StickySelectorStats {
    return { ...this.#stats };
  }
}
