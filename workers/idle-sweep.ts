// Idle limits on the JS data path: one sweep a second per worker over the pairs that have a limit, not a
// timer per connection. A pair counts the bytes its client sends; a sweep that sees no change for the
// pair's limit calls its onIdle. (The native engine does the same in C: engine_sweep_idle.)

/** How often the limits are checked: a client is closed between its limit and its limit plus twice this
 *  after its last byte (the sweep after that byte notes it, the first sweep a limit later closes). */
export const kIdleSweepMs = 1000;

export class IdleWatch {
  /** Bytes the client has sent: the pair adds as they move. */
  heard = 0;
  seen = 0;
  sinceMs: number;
  readonly limitMs: number;
  readonly onIdle: () => void;

  constructor(limitMs: number, onIdle: () => void, nowMs: number) {
    this.limitMs = limitMs;
    this.onIdle = onIdle;
    this.sinceMs = nowMs;
  }
}

const watches = new Set<IdleWatch>();
let timer: NodeJS.Timeout | undefined;

/** Watches a pair's client: onIdle is called once it has sent nothing for limitMs. */
export function watchIdle(limitMs: number, onIdle: () => void): IdleWatch {
  const w = new IdleWatch(limitMs, onIdle, Date.now());
  watches.add(w);
  if (timer === undefined) {
    timer = setInterval(() => sweepIdle(Date.now()), kIdleSweepMs);
    timer.unref();
  }
  return w;
}

/** The pair ended: no more checks. */
export function unwatchIdle(w: IdleWatch): void {
  watches.delete(w);
  if (watches.size === 0 && timer !== undefined) {
    clearInterval(timer);
    timer = undefined;
  }
}

/** One sweep (the timer's; tests call it with their own clock). Returns how many pairs were idle. */
export function sweepIdle(nowMs: number): number {
  let n = 0;
  for (const w of watches) {
    if (w.heard !== w.seen) {
      w.seen = w.heard;
      w.sinceMs = nowMs;
    } else if (nowMs - w.sinceMs >= w.limitMs) {
      unwatchIdle(w);
      n++;
      w.onIdle();
    }
  }
  return n;
}
