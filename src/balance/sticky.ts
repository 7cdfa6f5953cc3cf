// Sticky strategy: the shared sticky table in front of another strategy (consistent hash by default).
//
// A client whose key has a live pin to a broker that is still in the set, with weight > 0 and the
// generation the pin was made under, is offered that broker first, then the fallback's order without
// it; anything else gets the fallback's order. The pin is looked up before anything else, and on a
// valid pin first() returns it without asking the fallback at all: the fallback's walk starts only if
// the caller asks for a second candidate. placed() records the broker the client ended up on (an
// update when the pin was unusable and the client was re-placed). A full table never fails a
// connection: the client is placed by the fallback and the miss is counted.
//
// A key with no pin is claimed (pinned to the fallback's first choice) before anyone connects, so that
// workers placing the same new client at the same moment agree: the loser of the claim follows the
// winner's pin. The claim never waits: StickyTable.claim() finishes a competing insert that is between
// its claim and its publish on its behalf, so the answer is known at once. Only when the key's slots
// stay locked (a writer descheduled in the middle of its few stores) is nothing known: the client is
// then placed by the fallback's choice, and placed() records it.
import type { BrokerTable } from '../brokers/broker-table.ts';
import { stickyNowSec } from '../sticky/clock.ts';
import type { StickyTable } from '../sticky/table.ts';
import type { SelectionCursor } from './cursor.ts';
import type { BuildContext, RouteKey, Selector, StickyEvent } from './strategy.ts';
import { kDefaultStickyTtlSec, walkAll } from './strategy.ts';

export type StickySelectorStats = {
  /** Walks whose first candidate was a valid pin. */
  hits: number;
  /** Walks with no live pin. */
  misses: number;
  /** Walks whose pin named a broker gone from the set, drained (weight 0) or re-used (generation). */
  stale: number;
  /** placed() that could not record (table window full, or busy): the client was placed anyway. */
  unrecorded: number;
};

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
    this.#nowSec = ctx.nowSec ?? stickyNowSec;
    this.#onEvent = ctx.onStickyEvent;
  }

  #count(event: StickyEvent): void {
    this.#stats[event]++;
    this.#onEvent?.(event);
  }

  /** The pin if it is valid (the fallback is not consulted), else the fallback's first choice, claimed for a new key. */
  first(key: RouteKey, cursor: SelectionCursor): number {
    cursor.stickyPin = -1;
    cursor.stickyPending = -1;
    cursor.stickyFallbackStarted = true;
    const now = this.#nowSec();
    const broker = this.#table.find(key.hash, now, this.#ttlSec);
    if (broker >= 0) {
      if (broker < this.#usable.length && this.#usable[broker] && this.#brokerTable.generation(broker) === this.#table.foundGeneration) {
        this.#count('hits');
        cursor.stickyPin = broker;
        cursor.stickyFallbackStarted = false; // the fallback's walk starts only if next() is called
        return broker;
      }
      this.#count('stale');
      return this.#fallback.first(key, cursor);
    }
    this.#count('misses');
    const choice = this.#fallback.first(key, cursor);
    if (choice < 0) return choice;
    const pinned = this.#claim(key, choice, now);
    if (pinned === choice) return choice;
    // Another worker pinned the key first: follow its pin, then offer the fallback's order without
    // it, starting with the choice already taken from the fallback.
    cursor.stickyPin = pinned;
    cursor.stickyPending = choice;
    return pinned;
  }

  /** The fallback's walk, without the broker first() offered. */
  next(key: RouteKey, cursor: SelectionCursor): number {
    const pending = cursor.stickyPending;
    if (pending >= 0) {
      cursor.stickyPending = -1;
      return pending;
    }
    let broker: number;
    if (cursor.stickyFallbackStarted) {
      broker = this.#fallback.next(key, cursor);
    } else {
      cursor.stickyFallbackStarted = true;
      broker = this.#fallback.first(key, cursor);
    }
    if (broker >= 0 && broker === cursor.stickyPin) broker = this.#fallback.next(key, cursor);
    return broker;
  }

  /** The fallback's home for the key (the pin is not looked at). */
  home(key: RouteKey, cursor: SelectionCursor): number {
    return this.#fallback.home?.(key, cursor) ?? -1;
  }

  candidates(key: RouteKey): number[] {
    return walkAll(this, key);
  }

  /**
   * First placement of a key: pin the preferred broker before connecting, so that workers placing the
   * same new key at once agree (the fallback's order can differ between them: bounded loads look at
   * live counts, random draws). Returns the broker to offer first: `choice`, or the pin another
   * worker made first. A full table, a busy one, or a pin to a broker this set can't use: `choice`
   * (placed() then records where the client went). Never waits (see StickyTable.claim).
   */
  #claim(key: RouteKey, choice: number, now: number): number {
    const pinned = this.#table.claim(key.hash, choice, this.#brokerTable.generation(choice), now, this.#ttlSec);
    return pinned >= 0 && pinned < this.#usable.length && this.#usable[pinned] ? pinned : choice;
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
