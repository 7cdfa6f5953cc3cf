// The primary's broker set: names resolved, slots assigned (src/brokers/broker-slots.ts), and the shared
// broker table's flags and generations set, before the workers are told. One change at a time.
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config/resolved.ts';
import type { BrokerTable } from '../brokers/broker-table.ts';
import { BrokerSlots, type SlotChanges } from '../brokers/broker-slots.ts';
import { resolveBrokerIps, type LookupFn } from '../brokers/resolve-ips.ts';
import { stickyNowSec } from '../sticky/clock.ts';

export class BrokerSet {
  readonly #table: BrokerTable;
  readonly #log: Logger;
  readonly #lookup: LookupFn | undefined;
  readonly #slots: BrokerSlots;
  #brokers: BrokerConfig[] = [];
  /** The first set is the start: its brokers take no slow-start ramp. */
  #started = false;

  constructor(table: BrokerTable, log: Logger, lookup?: LookupFn) {
    this.#table = table;
    this.#log = log;
    this.#lookup = lookup;
    this.#slots = new BrokerSlots(table.maxBrokers);
  }

  /** The set the workers have (index = broker-table slot), names resolved. */
  get brokers(): BrokerConfig[] {
    return this.#brokers;
  }

  /**
   * Makes `next` the set: resolves names, assigns slots, voids the pins of reused slots, sets draining
   * (removed, free or drain: true) and brings new brokers in healthy. The caller then publishes
   * `this.brokers` to the workers. Throws SLUICE_ERR_CONFIG if the set does not fit the table; then
   * nothing has changed.
   */
  async apply(next: readonly BrokerConfig[]): Promise<SlotChanges> {
    // Names first (the only wait); slots are then assigned against the live counts of this moment.
    const resolved = await resolveBrokerIps(next, this.#log, this.#lookup);
    const changes = this.#slots.apply(resolved, (slot) => this.#table.liveConnections(slot));
    for (const slot of changes.bumpGeneration) this.#table.bumpGeneration(slot);
    const added = new Set(changes.added);
    changes.brokers.forEach((b, i) => {
      this.#table.setDraining(i, b.removed === true || b.drain);
      if (!added.has(b.name)) return;
      // Added while running: up now, so a slow start ramps from here; at the start, no ramp.
      if (this.#started) this.#table.markUp(i, stickyNowSec());
      else this.#table.setHealthy(i, true);
    });
    this.#started = true;
    // Slots past the new end (trimmed free ones): nobody may be placed there.
    for (let i = changes.brokers.length; i < this.#brokers.length; i++) this.#table.setDraining(i, true);
    this.#brokers = changes.brokers;
    return changes;
  }
}
