// Slow start: the share of its new clients a broker takes while it ramps up, from 0 when it comes up to
// 1 after its slow_start. One definition for placement (workers/placement.ts) and the admin view.
import { stickyNowSec } from '../sticky/clock.ts';

/**
 * The share (0 to 1) for a broker with a ramp of `rampMs` that came up at `upSinceSec` (sticky-clock
 * seconds; 0: up since the start). 1 when there is no ramp, or it is over.
 */
export function slowStartShare(rampMs: number, upSinceSec: number, nowSec: number = stickyNowSec()): number {
  if (rampMs === 0 || upSinceSec === 0) return 1;
  return Math.min(1, Math.max(0, ((nowSec - upSinceSec) * 1000) / rampMs));
}
