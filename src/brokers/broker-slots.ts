// The broker set as slots of the shared broker table. A broker keeps its slot (its index in the array
// the workers get) for as long as it is in the set, so live counts, health flags and sticky pins stay
// with it across changes. A broker that leaves the set stays in its slot, removed (never chosen, draining);
// at a later change with its last client gone the slot is free, and a new broker may take it, with the
// slot's generation bumped so pins made for the old broker are void. Pure: the primary applies what it returns.
import type { BrokerConfig } from '../config/resolved.ts';
import { configError } from '../errors.ts';

export type SlotChanges = {
  /** The array for the workers: index = slot; removed and free slots are weight 0, `removed: true`. */
  brokers: BrokerConfig[];
  added: string[];
  removed: string[];
  /** Same name, new weight, drain, PROXY or slow-start setting. */
  changed: string[];
  /** Slots whose generation must be bumped before the workers see the new set: given to another broker
   *  than the one pins there were made for (a free slot reused, or a name now at another address). */
  bumpGeneration: number[];
};

type Slot = { broker: BrokerConfig; removed: boolean } | undefined;

/** A slot no broker holds: never chosen, never dialed. */
export const freeSlot: BrokerConfig = Object.freeze({ name: '', address: '', host: '', port: 1, weight: 0, proxyProtocol: 'none', drain: true, removed: true }) as BrokerConfig;

export class BrokerSlots {
  readonly maxSlots: number;
  #slots: Slot[] = [];
  /** Slots that ever held a broker: reusing one voids the old broker's pins. */
  #used = new Set<number>();

  constructor(maxSlots: number) {
    this.maxSlots = maxSlots;
  }

  /**
   * Makes `next` the set. `liveOf(slot)`: forwarded connections on a slot now (a removed broker's slot is
   * free once it has none). Throws SLUICE_ERR_CONFIG when the set does not fit the table (removed brokers
   * still draining hold their slots).
   */
  apply(next: readonly BrokerConfig[], liveOf: (slot: number) => number): SlotChanges {
    const changes: SlotChanges = { brokers: [], added: [], removed: [], changed: [], bumpGeneration: [] };
    const wanted = new Map(next.map((b) => [b.name, b]));
    const slots = this.#slots.slice();
    // Brokers already placed: kept (updated), moved, or removed; drained-out removed slots freed.
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i];
      if (s === undefined) continue;
      const b = wanted.get(s.broker.name);
      if (b === undefined) {
        // Removed first, freed at a later change once no client is left: until every worker has the set
        // that removes it, a worker may still place a client on it.
        if (!s.removed) {
          changes.removed.push(s.broker.name);
          slots[i] = { broker: s.broker, removed: true };
        } else if (liveOf(i) === 0) {
          slots[i] = undefined;
        }
        continue;
      }
      wanted.delete(b.name);
      if (s.removed || b.address !== s.broker.address) {
        // Back after a removal, or at another address: another machine's sessions, so its old pins are void.
        changes.bumpGeneration.push(i);
        changes.added.push(b.name);
      } else if (b.weight !== s.broker.weight || b.drain !== s.broker.drain || b.proxyProtocol !== s.broker.proxyProtocol || b.slowStartMs !== s.broker.slowStartMs || b.drainCloseRate !== s.broker.drainCloseRate) {
        changes.changed.push(b.name);
      }
      slots[i] = { broker: b, removed: false };
    }
    // New brokers take the lowest free slots, in config order.
    for (const b of wanted.values()) {
      let i = slots.findIndex((s) => s === undefined);
      if (i < 0) i = slots.length;
      if (i >= this.maxSlots) {
        const draining = slots.filter((s) => s?.removed).length;
        throw configError(`brokers: ${next.length} brokers do not fit the broker table's ${this.maxSlots} slots${draining ? ` (${draining} removed brokers still have clients and keep theirs)` : ''}`);
      }
      slots[i] = { broker: b, removed: false };
      if (this.#used.has(i)) changes.bumpGeneration.push(i);
      changes.added.push(b.name);
    }
    while (slots.length > 0 && slots.at(-1) === undefined) slots.pop();
    this.#slots = slots;
    slots.forEach((s, i) => { if (s) this.#used.add(i); });
    changes.brokers = slots.map((s) => (s === undefined ? freeSlot : s.removed ? { ...s.broker, weight: 0, removed: true } : s.broker));
    return changes;
  }
}
