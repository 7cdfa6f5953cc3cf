// The primary's control of the broker set: the static brokers (config, reload) and the discovered ones
// (src/discovery/) combined, applied to the broker table (BrokerSet), published to the workers, and
// followed by the health checks. Every change goes through one queue, so a reload and a discovery update
// never interleave.
import type { Logger } from 'pino';
import type { BrokerConfig, ResolvedConfig } from '../config/resolved.ts';
import type { BrokerTable } from '../brokers/broker-table.ts';
import type { CounterSink } from '../metrics/counters.ts';
import { HealthChecker, type BrokerHealth } from '../health/checker.ts';
import { PassiveHealth } from '../health/passive.ts';
import { combineBrokers, Discovery } from '../discovery/discovery.ts';
import type { SourceStatus } from '../discovery/polling-source.ts';
import { BrokerSet } from './broker-set.ts';

export type Publish = (brokers: BrokerConfig[], balance: ResolvedConfig['balance']) => void;

export class BrokerControl {
  readonly #table: BrokerTable;
  readonly #log: Logger;
  readonly #counters: CounterSink;
  readonly #set: BrokerSet;
  #discovery: Discovery | undefined;
  readonly #onDiscovered = () => void this.#enqueue(() => this.#apply()).catch(() => {});
  #static: BrokerConfig[];
  #balance: ResolvedConfig['balance'];
  #healthConfig: ResolvedConfig['health'];
  #password: Buffer | undefined;
  #health: HealthChecker | undefined;
  #passive: PassiveHealth | undefined;
  #publish: Publish | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #lastSkipped = '';
  /** Drains set through the admin API, by broker name: they win over the config's until a restart. */
  readonly #drains = new Map<string, { drain: boolean; closeRate: number | undefined }>();

  constructor(config: ResolvedConfig, table: BrokerTable, log: Logger, counters: CounterSink, probePassword: Buffer | undefined) {
    this.#table = table;
    this.#log = log;
    this.#counters = counters;
    this.#set = new BrokerSet(table, log);
    this.#static = config.brokers;
    this.#balance = config.balance;
    this.#healthConfig = config.health;
    this.#password = probePassword;
    this.#discovery = config.discovery.length > 0 ? new Discovery(config.discovery, this.#onDiscovered, log, counters) : undefined;
  }

  /** The set the workers have (index = broker-table slot). */
  get brokers(): BrokerConfig[] {
    return this.#set.brokers;
  }

  /** The balance settings now (a reload may change them). */
  get balance(): ResolvedConfig['balance'] {
    return this.#balance;
  }

  /** Before the workers start: discovery's first answers (each bounded by its timeout), then the set. */
  async init(): Promise<void> {
    await this.#discovery?.start();
    await this.#enqueue(() => this.#apply());
  }

  /** Once the workers run: changes are published to them from now on; health checks start. */
  start(publish: Publish): void {
    this.#publish = publish;
    // A discovery update between the workers' start and now reached nobody: publish what is current.
    publish(this.#set.brokers, this.#balance);
    this.#startHealth();
  }

  /** Active and passive checks for the current settings and set. */
  #startHealth(): void {
    const { mqtt, http, passive } = this.#healthConfig;
    this.#health = mqtt ? new HealthChecker(this.#set.brokers, this.#table, mqtt, this.#password, this.#log, this.#counters, undefined, http) : undefined;
    this.#health?.start();
    this.#passive = passive ? new PassiveHealth(this.#table, passive, this.#log, this.#counters) : undefined;
    this.#passive?.follow(this.#set.brokers, this.#health);
  }

  /** Reload: new static brokers (undefined: unchanged) and balance settings. Throws if the set does not fit. */
  applyConfig(staticBrokers: BrokerConfig[] | undefined, balance: ResolvedConfig['balance']): Promise<void> {
    return this.#enqueue(async () => {
      const before = this.#static;
      if (staticBrokers) this.#static = staticBrokers;
      try {
        await this.#apply(true);
      } catch (err) {
        this.#static = before;
        throw err;
      }
      this.#balance = balance;
      this.#publish?.(this.#set.brokers, balance);
    });
  }

  /**
   * Reload: the discovery sources. Sources that stay keep their last good sets; new ones poll once before
   * the set is applied; a broker only a removed source named leaves the set and drains.
   */
  applyDiscovery(configs: ResolvedConfig['discovery']): Promise<void> {
    return this.#enqueue(async () => {
      if (configs.length === 0) {
        await this.#discovery?.stop();
        this.#discovery = undefined;
      } else if (this.#discovery) {
        await this.#discovery.update(configs);
      } else {
        const discovery = new Discovery(configs, this.#onDiscovered, this.#log, this.#counters);
        await discovery.start();
        this.#discovery = discovery;
      }
      await this.#apply();
    });
  }

  /**
   * Reload: health settings. Changed settings (or password): new checks, every broker starting up; the
   * same: the checks go on.
   */
  applyHealth(next: ResolvedConfig['health'], password: Buffer | undefined): Promise<void> {
    return this.#enqueue(async () => {
      const none = Buffer.alloc(0);
      if (JSON.stringify(next) === JSON.stringify(this.#healthConfig) && (password ?? none).equals(this.#password ?? none)) return;
      await this.#health?.stop();
      this.#passive?.stop();
      this.#healthConfig = next;
      this.#password = password;
      // Every broker starts up under the new settings (as at a start).
      this.#set.brokers.forEach((_, i) => this.#table.setHealthy(i, true));
      this.#startHealth();
    });
  }

  /**
   * Admin API: drains (no new clients; with closeRate, its clients closed that many a second) or undrains
   * the broker named `name`, from now until a restart; reloads and discovery keep it.
   */
  setDrain(name: string, drain: boolean, closeRate: number | undefined): Promise<'ok' | 'not-found'> {
    return this.#enqueue(async () => {
      if (!this.#set.brokers.some((b) => b.name === name && !b.removed)) return 'not-found';
      this.#drains.set(name, { drain, closeRate });
      await this.#apply();
      this.#log.info({ broker: name, drain, closeRate }, drain ? 'broker drained by the admin API' : 'broker undrained by the admin API');
      return 'ok';
    });
  }

  health(i: number): BrokerHealth | undefined {
    return this.#health?.health(i);
  }

  discoveryStatus(): SourceStatus[] {
    return this.#discovery?.status() ?? [];
  }

  async stop(): Promise<void> {
    await this.#discovery?.stop();
    this.#passive?.stop();
    await this.#health?.stop();
    await this.#queue;
  }

  #enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(job);
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Combines, applies, publishes (unless `quiet`: the caller publishes with new balance settings). */
  async #apply(quiet = false): Promise<void> {
    const combined = combineBrokers(this.#static, this.#discovery?.sets ?? []);
    const { skipped } = combined;
    const brokers = combined.brokers.map((b) => {
      const o = this.#drains.get(b.name);
      return o ? { ...b, drain: o.drain, drainCloseRate: o.drain ? o.closeRate ?? b.drainCloseRate : b.drainCloseRate } : b;
    });
    const shown = skipped.join(',');
    if (shown !== this.#lastSkipped && skipped.length > 0) this.#log.warn({ skipped }, 'discovered brokers skipped: their name or address is already in the set');
    this.#lastSkipped = shown;
    const before = JSON.stringify(this.#set.brokers);
    let changes;
    try {
      changes = await this.#set.apply(brokers);
    } catch (err) {
      this.#log.error({ reason: (err as Error).message }, 'broker set not applied; the running set stays');
      throw err;
    }
    // Nothing new (a re-resolved name can change an IP alone: that is new).
    if (JSON.stringify(changes.brokers) === before) return;
    if (this.#publish && (changes.added.length || changes.removed.length || changes.changed.length)) {
      this.#log.info({ added: changes.added, removed: changes.removed, changed: changes.changed }, 'broker set changed');
    }
    this.#health?.setBrokers(this.#set.brokers);
    this.#passive?.follow(this.#set.brokers, this.#health);
    if (!quiet) this.#publish?.(this.#set.brokers, this.#balance);
  }
}
