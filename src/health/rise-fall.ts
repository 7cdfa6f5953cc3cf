// A broker's health state from its check results: it flips only after `fall` failures in a row (up ->
// down) or `rise` passes in a row (down -> up), so one lost probe never moves clients (Pingora's and
// HAProxy's rise/fall).

export type HealthState = 'up' | 'down';

export class RiseFall {
  readonly rise: number;
  readonly fall: number;
  #state: HealthState;
  /** Results in a row that disagree with the state; at `fall` (or `rise`) the state flips. */
  #streak = 0;

  constructor(rise: number, fall: number, initial: HealthState = 'up') {
    if (!Number.isInteger(rise) || rise < 1 || !Number.isInteger(fall) || fall < 1) throw new RangeError(`rise and fall must be whole numbers >= 1 (got ${rise}, ${fall})`);
    this.rise = rise;
    this.fall = fall;
    this.#state = initial;
  }

  get state(): HealthState {
    return this.#state;
  }

  /** Results in a row against the current state (0 when the last one agreed). */
  get streak(): number {
    return this.#streak;
  }

  /** Records one result; returns the new state when this result flipped it, else undefined. */
  record(ok: boolean): HealthState | undefined {
    if (ok === (this.#state === 'up')) {
      this.#streak = 0;
      return undefined;
    }
    this.#streak++;
    if (this.#streak < (this.#state === 'up' ? this.fall : this.rise)) return undefined;
    this.#state = ok ? 'up' : 'down';
    this.#streak = 0;
    return this.#state;
  }
}
