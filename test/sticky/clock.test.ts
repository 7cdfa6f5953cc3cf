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
  // A whole second, cached: behind the wall clock by less than one second plus a tick (and the time this
  // thread took to run the tick; 250 ms of slack on a busy machine), never ahead of it.
  const behind = wallSec() - later;
  assert.ok(behind >= 0 && behind < 1 + (kTickMs + 250) / 1000, `${later} is ${behind.toFixed(3)} s behind the wall clock`);
});

test.run();
