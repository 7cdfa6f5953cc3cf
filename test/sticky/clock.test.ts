// Tests for src/sticky/clock.ts: whole seconds since 2025, small integers, cached and refreshed by a timer.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { kStickyEpochMs, kTickMs, stickyNowSec } from '../../src/sticky/clock.ts';

const wallSec = () => (Date.now() - kStickyEpochMs) / 1000;

test('seconds since 2025-01-01 UTC, a small integer (below 2^30: never a heap number)', () => {
  assert.is(kStickyEpochMs, Date.parse('2025-01-01T00:00:00Z'));
  const now = stickyNowSec();
  assert.ok(Number.isInteger(now) && now > 0 && now < 2 ** 30);
  assert.ok(Math.abs(now - wallSec()) <= 1, `${now} vs ${wallSec()}`);
});

test('the cached second follows the wall clock within a tick', async () => {
  const start = stickyNowSec();
  await new Promise((r) => setTimeout(r, 1_000 + 2 * kTickMs));
  const later = stickyNowSec();
  assert.ok(later >= start + 1, `${start} -> ${later}`);
  assert.ok(Math.abs(later - wallSec()) <= 1);
});

test.run();
