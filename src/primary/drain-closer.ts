// Draining at a bounded close rate: while a broker drains (drain: true, or removed from the set) and has
// a drain_close_rate, its clients are closed at about that many a second, all workers together, so their
// reconnects (placed elsewhere: it takes no new clients) spread out instead of landing as one
// session-takeover storm. Every tick each worker is asked to close its share; a worker with fewer of that
// broker's clients closes what it has, so the rate is an upper bound.
import type { BrokerConfig } from '../config/resolved.ts';
import type { BrokerTable } from '../brokers/broker-table.ts';

/** Ticks a second: the closes of one second are spread over it. */
const kTickMs = 200;

export type CloseOnBroker = (broker: number, count: number) => void;

export class DrainCloser {
  readonly #table: BrokerTable;
  readonly #brokers: () => readonly BrokerConfig[];
  readonly #workers: number;
  readonly #close: CloseOnBroker;
  /** Per slot: closes owed but not yet asked for (fractions of one per worker carry over). */
  readonly #credit = new Map<number, number>();
  readonly #timer: NodeJS.Timeout;

  constructor(table: BrokerTable, brokers: () => readonly BrokerConfig[], workers: number, close: CloseOnBroker) {
    this.#table = table;
    this.#brokers = brokers;
    this.#workers = workers;
    this.#close = close;
    this.#timer = setInterval(() => this.tick(), kTickMs);
    this.#timer.unref();
  }

  /** One tick (the timer's; tests call it). */
  tick(): void {
    this.#brokers().forEach((b, i) => {
      const rate = b.drainCloseRate ?? 0;
      if (b.name === '' || rate <= 0 || !(b.removed || b.drain) || this.#table.liveConnections(i) === 0) {
        this.#credit.delete(i);
        return;
      }
      const credit = (this.#credit.get(i) ?? 0) + (rate * kTickMs) / 1000;
      const perWorker = Math.floor(credit / this.#workers);
      this.#credit.set(i, credit - perWorker * this.#workers);
      if (perWorker > 0) this.#close(i, perWorker);
    });
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
