// What every discovery source shares: a poll on a schedule (sooner after a failure, backing off to the
// interval), the last good set kept through failures, an empty answer that never wipes a non-empty set
// unless allow_empty says so, and one log line per change of state (not one per failed poll).
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config/resolved.ts';
import type { CounterSink } from '../metrics/counters.ts';

/** A poll's outcome: a set, "unchanged" (HTTP 304), or a failure (the last good set stays). */
export type PollResult = { kind: 'set'; brokers: BrokerConfig[] } | { kind: 'unchanged' } | { kind: 'failed'; error: string };

/** What the admin API shows of a source. */
export type SourceStatus = {
  source: string;
  /** Brokers in its last good set (undefined: none yet). */
  brokers: number | undefined;
  polls: number;
  failures: number;
  lastOkAt?: string;
  lastError?: string;
  lastErrorAt?: string;
};

/** First retry after a failure; each further failure doubles it, up to the interval. */
const kFirstRetryMs = 250;

export abstract class PollingSource {
  readonly label: string;
  readonly #intervalMs: number;
  readonly #allowEmpty: boolean;
  readonly #onChange: () => void;
  protected readonly log: Logger;
  readonly #counters: CounterSink;
  #brokers: BrokerConfig[] | undefined;
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #again = false;
  #failStreak = 0;
  #stopped = false;
  readonly #status: SourceStatus;
  protected readonly abort = new AbortController();

  constructor(label: string, intervalMs: number, allowEmpty: boolean, onChange: () => void, log: Logger, counters: CounterSink) {
    this.label = label;
    this.#intervalMs = intervalMs;
    this.#allowEmpty = allowEmpty;
    this.#onChange = onChange;
    this.log = log;
    this.#counters = counters;
    this.#status = { source: label, brokers: undefined, polls: 0, failures: 0 };
  }

  /** One poll: the source's current list, or why there is none. Never throws. */
  protected abstract poll(): Promise<PollResult>;

  /** The last good set (undefined before the first). */
  get brokers(): BrokerConfig[] | undefined {
    return this.#brokers;
  }

  status(): SourceStatus {
    return { ...this.#status };
  }

  /** Polls now, then on the schedule. Resolves after the first poll (the start waits for it). */
  start(): Promise<void> {
    return this.pollNow();
  }

  /** A poll now (a file changed); one already running is followed by another. */
  pollNow(): Promise<void> {
    if (this.#polling) {
      this.#again = true;
      return this.#polling;
    }
    clearTimeout(this.#timer);
    this.#polling = this.#run().finally(() => {
      this.#polling = undefined;
      if (this.#again && !this.#stopped) {
        this.#again = false;
        void this.pollNow();
      }
    });
    return this.#polling;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.abort.abort();
    await this.#polling;
  }

  async #run(): Promise<void> {
    let r: PollResult;
    try {
      r = await this.poll();
    } catch (err) {
      r = { kind: 'failed', error: `internal error: ${err instanceof Error ? err.message : String(err)}` };
    }
    if (this.#stopped) return;
    this.#status.polls++;
    if (r.kind === 'set' && r.brokers.length === 0 && !this.#allowEmpty && (this.#brokers?.length ?? 0) > 0) {
      r = { kind: 'failed', error: 'an empty broker list (allow_empty is false: the last set stays)' };
    }
    if (r.kind === 'failed') {
      this.#failStreak++;
      this.#status.failures++;
      this.#counters.add('discovery_failures');
      const first = this.#status.lastError !== r.error;
      this.#status.lastError = r.error;
      this.#status.lastErrorAt = new Date().toISOString();
      // The first failure of a kind is a warning; the same failure again is debug (a source down for an
      // hour writes one line, not 720).
      if (first) this.log.warn({ source: this.label, reason: r.error, keeping: this.#brokers?.length ?? 0 }, 'discovery source failed; its last good set stays');
      else if (this.log.isLevelEnabled('debug')) this.log.debug({ source: this.label, reason: r.error }, 'discovery source still failing');
    } else {
      if (this.#failStreak > 0) this.log.info({ source: this.label }, 'discovery source answers again');
      this.#failStreak = 0;
      this.#status.lastError = undefined;
      this.#status.lastOkAt = new Date().toISOString();
      if (r.kind === 'set' && JSON.stringify(r.brokers) !== JSON.stringify(this.#brokers)) {
        this.#brokers = r.brokers;
        this.#status.brokers = r.brokers.length;
        this.#counters.add('discovery_updates');
        this.log.info({ source: this.label, brokers: r.brokers.map((b) => `${b.name}=${b.address}`) }, 'discovery source has a new broker set');
        this.#onChange();
      }
    }
    const delay = this.#failStreak === 0 ? this.#intervalMs : Math.min(this.#intervalMs, kFirstRetryMs * 2 ** (this.#failStreak - 1));
    this.#timer = setTimeout(() => void this.pollNow(), delay);
    this.#timer.unref();
  }
}
