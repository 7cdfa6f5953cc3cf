// The sticky clock: whole seconds since 2025-01-01 UTC, the time base of every last-seen in the sticky table.
//
// Every user of one table must read this clock: the workers' sticky selectors (placement, release) and
// the primary's sweep. Two choices keep a placement from allocating or paying for a system call:
// - Seconds since 2025, not Unix seconds: V8 (with pointer compression) keeps only 31-bit integers
//   unboxed, and Unix seconds are above 2^30, so each one handed from function to function would be
//   a fresh 16-byte heap number. Seconds since 2025 stay below 2^30 until 2059 (after that they still
//   work, boxed).
// - A cached value, refreshed by a timer every kTickMs in each thread that reads it: Date.now()
//   costs ~55 ns here and leaves garbage now and then; a read of the cache costs nothing. The value
//   lags the wall clock by at most kTickMs plus however long the thread's event loop was busy; pins
//   live for whole seconds to days (sticky.ttl >= 1 s), so that is well inside their resolution.

/** The clock's zero, in Unix milliseconds. */
export const kStickyEpochMs = Date.UTC(2025, 0, 1);
/** How often a thread's cached second is refreshed. */
export const kTickMs = 100;

let cachedSec = 0;
let ticking = false;

function refresh(): void {
  // | 0: an int32 (non-negative here, so the same as Math.floor), which V8 keeps as a small integer.
  cachedSec = ((Date.now() - kStickyEpochMs) / 1000) | 0;
}

/** Now, in whole seconds on the sticky clock (this thread's cached value; the first call starts its timer). */
export function stickyNowSec(): number {
  if (!ticking) {
    ticking = true;
    refresh();
    setInterval(refresh, kTickMs).unref(); // never keeps a thread alive on its own
  }
  return cachedSec;
}
