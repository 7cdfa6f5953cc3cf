// Passive health in the primary: workers count each broker's failures in a row in the shared broker
// table (failed connects, and CONNACKs refusing clients for the broker's own state: workers/placement.ts;
// an accepting CONNACK ends the run). The failure that reaches `failures` marks the broker down at once
// (in the worker), so the next clients skip it instead of each paying a failure. With active MQTT checks
// it comes back as they decide (`rise` passing probes); without them, after `cooldown` (then a failing
// broker is found again within `failures` clients).
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config/resolved.ts';
import type { BrokerTable } from '../brokers/broker-table.ts';
import type { CounterSink } from '../metrics/counters.ts';
import { stickyNowSec } from '../sticky/clock.ts';

/** How often the primary reads the failure counts: the bound on how late a mark can come. */
const kScanMs = 200;

export type PassiveSettings = { failures: number; cooldownMs: number };
/** The active checks, when configured: they take a marked broker over. */
export type ActiveChecks = { markDown(i: number, reason: string, detail: string): boolean };

export class PassiveHealth {
  readonly #table: BrokerTable;
  readonly #cfg: PassiveSettings;
  readonly #log: Logger;
  readonly #counters: CounterSink;
  #brokers: readonly BrokerConfig[] = [];
  #active: ActiveChecks | undefined;
  readonly #cooldowns = new Map<number, NodeJS.Timeout>();
  readonly #timer: NodeJS.Timeout;

  constructor(table: BrokerTable, cfg: PassiveSettings, log: Logger, counters: CounterSink) {
    this.#table = table;
    this.#cfg = cfg;
    this.#log = log;
    this.#counters = counters;
    // The workers mark the broker down themselves when a run reaches the bound; the scan does the rest.
    table.setPassiveFailures(cfg.failures);
    this.#timer = setInterval(() => this.scan(), kScanMs);
    this.#timer.unref();
  }

  /** The broker set (index = slot) and the active checks now (undefined: none). */
  follow(brokers: readonly BrokerConfig[], active: ActiveChecks | undefined): void {
    // A slot given to another broker starts counting afresh.
    brokers.forEach((b, i) => { if (this.#brokers[i]?.address !== b.address) this.#table.resetConnectFailStreak(i); });
    this.#brokers = brokers;
    this.#active = active;
  }

  /**
   * Every broker whose failures in a row reached the bound: down (a worker already flagged it),
   * logged, counted, and handed to the active checks or a cooldown. Also run by a timer.
   */
  scan(): void {
    this.#brokers.forEach((b, i) => {
      if (b.removed) return;
      const streak = this.#table.connectFailStreak(i);
      if (streak < this.#cfg.failures) return;
      this.#table.resetConnectFailStreak(i);
      this.#table.setHealthy(i, false);
      this.#counters.add('broker_marked_down');
      const probed = this.#active?.markDown(i, 'passive', `${streak} failed connects or refusing CONNACKs in a row`) ?? false;
      this.#log.warn({ broker: b.name, address: b.address, failuresInARow: streak, back: probed ? 'after passing health checks' : `in ${this.#cfg.cooldownMs}ms` },
        'broker marked down: its connects fail or its CONNACKs refuse clients; no new clients are placed on it');
      if (!probed) this.#cooldown(i, b);
    });
  }

  #cooldown(i: number, b: BrokerConfig): void {
    clearTimeout(this.#cooldowns.get(i));
    const t = setTimeout(() => {
      this.#cooldowns.delete(i);
      // Still the same broker in this slot: try it again.
      if (this.#brokers[i]?.address !== b.address || this.#table.isHealthy(i)) return;
      this.#table.resetConnectFailStreak(i);
      this.#table.markUp(i, stickyNowSec());
      this.#counters.add('broker_marked_up');
      this.#log.info({ broker: b.name, address: b.address }, 'broker marked up after its cooldown: new clients are placed on it again');
    }, this.#cfg.cooldownMs);
    t.unref();
    this.#cooldowns.set(i, t);
  }

  stop(): void {
    this.#table.setPassiveFailures(0);
    clearInterval(this.#timer);
    for (const t of this.#cooldowns.values()) clearTimeout(t);
    this.#cooldowns.clear();
  }
}
