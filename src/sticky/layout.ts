// Shared-memory layout of the sticky table: header counters and the words of one slot, all Int32.

/** Int32 words in the header; slots start after it, on a 64-byte boundary. */
export const kHeaderWords = 16;
/** Header: format tag, checked when a worker attaches. */
export const kMagicField = 0;
export const kMagic = 0x534c5354; // 'SLST'
/** Header: slot count, a power of two. */
export const kCapacityField = 1;
/** Header: published slots (live or expired but not yet swept). */
export const kSizeField = 2;
/** Header: records that created a pin ('inserted'). */
export const kInsertsField = 3;
/** Header: records that found none of the key's slots free ('full'). */
export const kFullField = 4;
/** Header: expired pins removed (swept, or overwritten when their slot or key was reused). */
export const kExpiredField = 5;
/** Header: operations that gave up because a slot stayed locked (a writer was descheduled). */
export const kBusyField = 6;
/** Header: the incremental sweep's next slot (uint32, wraps; taken with Atomics.add). */
export const kSweepCursorField = 7;
/** Header: pending claims of another insert that a claim verified and published on its behalf (StickyTable.claim). */
export const kHelpedField = 8;

/** Int32 words per slot (24 bytes). */
export const kSlotWords = 6;
/** Slot: state word, below. Every change to the other words happens while it is locked. */
export const kSlotStateField = 0;
/** Slot: key hash, low 32 bits (0 and 0 together = no key). */
export const kSlotKeyLoField = 1;
/** Slot: key hash, high 32 bits. */
export const kSlotKeyHiField = 2;
/** Slot: broker index (BrokerTable slot). */
export const kSlotBrokerField = 3;
/** Slot: the broker's generation when the pin was made (uint32 stored as int32). */
export const kSlotGenerationField = 4;
/** Slot: last-seen time in whole seconds (int32; compared by wrapping difference). */
export const kSlotLastSeenField = 5;

/**
 * State word = version << 3 | kind << 1 | locked.
 * - locked (bit 0): one writer owns the slot's other words; readers must not trust them.
 * - kind (bits 1-2): what the slot holds, below.
 * - version (bits 3-31): +1 on every unlock, so a reader or a compare-and-swap notices any change.
 */
export const kStateLocked = 1;
export const kKindMask = 6;
/** Kind: no key. */
export const kKindFree = 0;
/**
 * Kind: an insert has claimed the slot (key, broker, generation and time written) and not yet made
 * sure no other copy of the key exists. Its owner, or any claim() of the same key, may finish it.
 */
export const kKindPending = 2;
/** Kind: a pin readers may use. */
export const kKindPublished = 4;
/** Kind: a pending claim another insert of the same key overruled; its owner frees it. */
export const kKindKilled = 6;
export const kVersionUnit = 8;

/**
 * Slots a key may live in: two windows of kWindowSlots consecutive slots, from two home slots taken
 * from the two halves of its hash (made disjoint when they would overlap). An insert takes a slot in
 * the window with more room ("two choices"): measured on 2^18 slots, records answering 'full' at 50%
 * load went from 46 (one 16-slot window) to 0, and at 75% from 2569 to 115, for the same 16 slots read.
 */
export const kWindowSlots = 8;
export const kProbeWindow = 2 * kWindowSlots;
/** Capacity limits: at least a key's kProbeWindow slots; at most 2^27 slots (3 GiB). */
export const kMinCapacity = kProbeWindow;
export const kMaxCapacity = 2 ** 27;
/** Pending or killed slots older than this are abandoned (their worker died mid-insert): sweep frees them. */
export const kStaleClaimSec = 60;

export function stickyTableBytes(capacity: number): number {
  return (kHeaderWords + capacity * kSlotWords) * Int32Array.BYTES_PER_ELEMENT;
}
