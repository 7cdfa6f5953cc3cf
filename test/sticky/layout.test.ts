// Tests for src/sticky/layout.ts: the named fields do not overlap and the state word's parts fit together.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as L from '../../src/sticky/layout.ts';

test('header fields are distinct and inside the header; slot fields fill the slot', () => {
  const header = [L.kMagicField, L.kCapacityField, L.kSizeField, L.kInsertsField, L.kFullField, L.kExpiredField, L.kBusyField, L.kSweepCursorField, L.kHelpedField];
  assert.is(new Set(header).size, header.length);
  for (const f of header) assert.ok(f >= 0 && f < L.kHeaderWords);
  const slot = [L.kSlotStateField, L.kSlotKeyLoField, L.kSlotKeyHiField, L.kSlotBrokerField, L.kSlotGenerationField, L.kSlotLastSeenField];
  assert.equal([...slot].sort(), Array.from({ length: L.kSlotWords }, (_, i) => i));
  assert.is((L.kHeaderWords * 4) % 64, 0, 'slots start on a cache line');
});

test('state word: kinds are distinct within the kind mask; lock bit and version do not overlap them', () => {
  const kinds = [L.kKindFree, L.kKindPending, L.kKindPublished, L.kKindKilled];
  assert.is(new Set(kinds).size, 4);
  for (const k of kinds) assert.is(k & ~L.kKindMask, 0);
  assert.is(L.kStateLocked & L.kKindMask, 0);
  assert.is(L.kVersionUnit & (L.kKindMask | L.kStateLocked), 0);
  assert.is(L.kVersionUnit, (L.kKindMask | L.kStateLocked) + 1);
});

test('sizes: a window fits the smallest table; the largest table fits a SharedArrayBuffer length', () => {
  assert.ok(L.kMinCapacity >= L.kProbeWindow);
  assert.is(L.stickyTableBytes(1024), (L.kHeaderWords + 1024 * L.kSlotWords) * 4);
  assert.ok(Number.isSafeInteger(L.stickyTableBytes(L.kMaxCapacity)));
});

test.run();
