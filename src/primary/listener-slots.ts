// Small stable numbers for listeners: the index of their counts in shared memory (connection-stats.ts).
// A listener keeps its slot across reloads while its settings stay the same; a new one takes the slot
// that has been free longest, whose counts start again from zero.
import type { ListenerConfig } from '../config/resolved.ts';
import { kListenerSlots } from '../metrics/connection-stats.ts';
import { listenerLabel } from '../config/listeners.ts';

export class ListenerSlots {
  readonly #byKey = new Map<string, number>();
  /** Free slots, longest free first. */
  readonly #free: number[] = Array.from({ length: kListenerSlots }, (_, i) => i);
  readonly #labels: (string | undefined)[] = new Array<string | undefined>(kListenerSlots);
  readonly #onReuse: (slot: number) => void;

  constructor(onReuse: (slot: number) => void) {
    this.#onReuse = onReuse;
  }

  /** The slots `listeners` (same order) would have: a listener with the same settings keeps its slot, a
   *  new one gets one free now. Nothing changes until commit(). Throws when there are too few. */
  plan(listeners: readonly ListenerConfig[]): number[] {
    let nextFree = 0;
    return listeners.map((l) => {
      const slot = this.#byKey.get(JSON.stringify(l)) ?? this.#free[nextFree++];
      if (slot === undefined) throw new RangeError(`more than ${kListenerSlots} listeners`);
      return slot;
    });
  }

  /** The workers have `listeners` at `slots` (from plan()): slots of listeners gone are freed, a newly
   *  taken slot's counts start from zero. */
  commit(listeners: readonly ListenerConfig[], slots: readonly number[]): void {
    const keys = listeners.map((l) => JSON.stringify(l));
    const wanted = new Set(keys);
    for (const [key, slot] of this.#byKey) {
      if (wanted.has(key)) continue;
      this.#byKey.delete(key);
      this.#free.push(slot);
    }
    keys.forEach((key, i) => {
      const slot = slots[i];
      if (!this.#byKey.has(key)) {
        this.#free.splice(this.#free.indexOf(slot), 1);
        this.#byKey.set(key, slot);
        this.#onReuse(slot);
      }
      this.#labels[slot] = listenerLabel(listeners[i]);
    });
  }

  /** Slots in use now, with their labels. */
  current(): { slot: number; label: string }[] {
    return [...this.#byKey.values()].sort((a, b) => a - b).map((slot) => ({ slot, label: this.#labels[slot]! }));
  }
}
