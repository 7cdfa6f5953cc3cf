// Raw sticky-table states for tests: an insert caught between its claim and its publish, as another
// worker descheduled there leaves it in shared memory (the slot words exactly as StickyTable writes them).
import type { KeyHash } from '../../src/hash.ts';
import {
  kHeaderWords,
  kKindPending,
  kSlotBrokerField,
  kSlotGenerationField,
  kSlotKeyHiField,
  kSlotKeyLoField,
  kSlotLastSeenField,
  kSlotStateField,
  kSlotWords,
  kStateLocked,
  kVersionUnit,
} from '../../src/sticky/layout.ts';

/**
 * Claim `key`'s first home slot (which must be free) for `broker`, as an insert does before its verify
 * pass: `locked` = still writing its words (key not readable yet), else pending and unlocked. Returns
 * the index of the slot's state word.
 */
export function writePendingClaim(sab: SharedArrayBuffer, key: KeyHash, broker: number, generation: number, nowSec: number, locked = false): number {
  const w = new Int32Array(sab);
  const capacity = (w.length - kHeaderWords) / kSlotWords;
  const i = kHeaderWords + ((key.lo | 0) & (capacity - 1)) * kSlotWords;
  const free = Atomics.load(w, i + kSlotStateField);
  if (free !== 0) throw new Error('writePendingClaim: the home slot is not fresh');
  Atomics.store(w, i + kSlotStateField, kKindPending | kStateLocked);
  Atomics.store(w, i + kSlotKeyLoField, key.lo | 0);
  Atomics.store(w, i + kSlotKeyHiField, key.hi | 0);
  Atomics.store(w, i + kSlotBrokerField, broker);
  Atomics.store(w, i + kSlotGenerationField, generation);
  Atomics.store(w, i + kSlotLastSeenField, nowSec);
  if (!locked) Atomics.store(w, i + kSlotStateField, kKindPending | kVersionUnit);
  return i + kSlotStateField;
}
