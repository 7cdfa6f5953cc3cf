// The primary's active health checks: each broker is probed over MQTT every interval (one probe at a
// time per broker, staggered over the first interval so a large set does not probe in bursts); rise/fall
// decides its state, which goes to the shared broker table, where every worker's placement skips a
// broker that is down. A flip is logged and counted; single failed probes are counted, and logged at debug.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { BrokerConfig, MqttHealthConfig } from '../config/resolved.ts';
import type { BrokerTable } from '../brokers/broker-table.ts';
import type { CounterSink } from '../metrics/counters.ts';
import { probeMqtt, type MqttProbeOptions, type ProbeResult } from './mqtt-probe.ts';
import { RiseFall, type HealthState } from './rise-fall.ts';

export type ProbeFn = (host: string, port: number, opts: MqttProbeOptions) => Promise<ProbeResult>;

/** What the admin API shows of a broker's health. */
export type BrokerHealth = {
  state: HealthState;
  /** Since when (ISO time) the broker has been in this state (the start, or the flip). */
  since: string;
  /** Results in a row that disagree with the state (a flip comes at rise or fall). */
  streak: number;
  checks: number;
  failures: number;
  last?: { ok: boolean; reason?: string; detail?: string; ms: number; at: string };
};

export class HealthChecker {
  readonly #brokers: BrokerConfig[];
  readonly #table: BrokerTable;
  readonly #cfg: MqttHealthConfig;
  readonly #password: Buffer | undefined;
  readonly #log: Logger;
  readonly #counters: CounterSink;
  readonly #probe: ProbeFn;
  readonly #states: RiseFall[];
  readonly #health: BrokerHealth[];
  readonly #timers: (NodeJS.Timeout | undefined)[];
  readonly #inFlight = new Set<Promise<unknown>>();
  /** Tells this process's probes from another Sluice's on the same brokers (a shared id would take over). */
  readonly #tag = randomBytes(4).toString('hex');
  #stopped = false;

  constructor(brokers: BrokerConfig[], table: BrokerTable, cfg: MqttHealthConfig, password: Buffer | undefined, log: Logger, counters: CounterSink, probe: ProbeFn = probeMqtt) {
    this.#brokers = brokers;
    this.#table = table;
    this.#cfg = cfg;
    this.#password = password;
    this.#log = log;
    this.#counters = counters;
    this.#probe = probe;
    const now = new Date().toISOString();
    // Brokers start up: a fresh start serves at once, and a dead broker is found within fall probes.
    this.#states = brokers.map(() => new RiseFall(cfg.rise, cfg.fall, 'up'));
    this.#health = brokers.map(() => ({ state: 'up', since: now, streak: 0, checks: 0, failures: 0 }));
    this.#timers = brokers.map(() => undefined);
  }

  start(): void {
    const n = this.#brokers.length;
    this.#brokers.forEach((_, i) => this.#schedule(i, Math.floor((i * this.#cfg.intervalMs) / Math.max(1, n))));
  }

  /** Broker i's health now (a copy). */
  health(i: number): BrokerHealth {
    const h = this.#health[i];
    return { ...h, last: h.last && { ...h.last } };
  }

  /** Stops probing; resolves when the probes in flight are over (each ends within its timeout). */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    await Promise.all(this.#inFlight);
  }

  #schedule(i: number, delayMs: number): void {
    if (this.#stopped) return;
    const t = setTimeout(() => {
      const p = this.#check(i).catch((err: unknown) => {
        // A bug here must not stop the checks (nor the primary): log it, and keep probing.
        this.#log.error({ broker: this.#brokers[i].name, err: err instanceof Error ? err.message : String(err) }, 'health check failed internally');
      }).finally(() => {
        this.#inFlight.delete(p);
        this.#schedule(i, this.#cfg.intervalMs);
      });
      this.#inFlight.add(p);
    }, delayMs);
    t.unref();
    this.#timers[i] = t;
  }

  async #check(i: number): Promise<void> {
    const b = this.#brokers[i];
    const r = await this.#probe(b.host, b.port, {
      timeoutMs: this.#cfg.timeoutMs, clientId: `${this.#cfg.clientIdPrefix}${this.#tag}-${i}`,
      username: this.#cfg.username, password: this.#password, protocolVersion: this.#cfg.protocolVersion,
    });
    if (this.#stopped) return;
    const h = this.#health[i];
    const at = new Date().toISOString();
    h.checks++;
    this.#counters.add('health_checks');
    if (r.ok) {
      h.last = { ok: true, ms: Math.round(r.ms), at };
    } else {
      h.failures++;
      h.last = { ok: false, reason: r.reason, detail: r.detail, ms: Math.round(r.ms), at };
      this.#counters.add('health_check_failures');
      if (this.#log.isLevelEnabled('debug')) this.#log.debug({ broker: b.name, address: b.address, reason: r.reason, detail: r.detail }, 'broker health check failed');
    }
    const flipped = this.#states[i].record(r.ok);
    h.streak = this.#states[i].streak;
    if (flipped === undefined) return;
    h.state = flipped;
    h.since = at;
    this.#table.setHealthy(i, flipped === 'up');
    if (flipped === 'down') {
      this.#counters.add('broker_marked_down');
      this.#log.warn({ broker: b.name, address: b.address, reason: h.last.reason, detail: h.last.detail, fall: this.#cfg.fall }, 'broker marked down: no new clients are placed on it');
    } else {
      this.#counters.add('broker_marked_up');
      this.#log.info({ broker: b.name, address: b.address, rise: this.#cfg.rise }, 'broker marked up: new clients are placed on it again');
    }
  }
}
