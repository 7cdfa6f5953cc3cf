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
import { probeHttp, type HttpProbeOptions } from './http-probe.ts';
import { RiseFall, type HealthState } from './rise-fall.ts';
import { stickyNowSec } from '../sticky/clock.ts';

export type ProbeFn = (host: string, port: number, opts: MqttProbeOptions) => Promise<ProbeResult>;
export type HttpProbeFn = (host: string, opts: HttpProbeOptions) => Promise<ProbeResult>;
/** The HTTP readiness check (health.http) and how it is made (tests give their own). */
export type HttpCheck = { scheme: 'http' | 'https'; port: number; path: string; probe?: HttpProbeFn };

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

/** One probed broker: replaced whole when its slot gets another broker (a result for the old one is dropped).
 *  Its state and streak are the RiseFall's; the rest of its BrokerHealth is kept here. */
type Probed = {
  broker: BrokerConfig;
  state: RiseFall;
  since: string;
  checks: number;
  failures: number;
  last: BrokerHealth['last'];
  timer: NodeJS.Timeout | undefined;
};

export class HealthChecker {
  readonly #table: BrokerTable;
  readonly #cfg: MqttHealthConfig;
  readonly #password: Buffer | undefined;
  readonly #log: Logger;
  readonly #counters: CounterSink;
  readonly #probe: ProbeFn;
  readonly #http: HttpCheck | undefined;
  /** By broker-table slot; undefined: a free or removed slot, not probed. */
  #probed: (Probed | undefined)[] = [];
  readonly #inFlight = new Set<Promise<unknown>>();
  /** Tells this process's probes from another Sluice's on the same brokers (a shared id would take over). */
  readonly #tag = randomBytes(4).toString('hex');
  #started = false;
  #stopped = false;

  constructor(brokers: BrokerConfig[], table: BrokerTable, cfg: MqttHealthConfig, password: Buffer | undefined, log: Logger, counters: CounterSink, probe: ProbeFn = probeMqtt, http?: HttpCheck) {
    this.#table = table;
    this.#cfg = cfg;
    this.#password = password;
    this.#log = log;
    this.#counters = counters;
    this.#probe = probe;
    this.#http = http;
    this.setBrokers(brokers);
  }

  start(): void {
    this.#started = true;
    const n = this.#probed.length;
    // Staggered over the first interval, so a large set does not probe in one burst.
    this.#probed.forEach((p, i) => { if (p) this.#schedule(i, p, Math.floor((i * this.#cfg.intervalMs) / Math.max(1, n))); });
  }

  /**
   * The broker set changed (index = broker-table slot). A slot that keeps its broker (same name and
   * address) keeps its state and schedule; a new broker starts up and is probed within an interval; a
   * removed or free slot is no longer probed.
   */
  setBrokers(brokers: readonly BrokerConfig[]): void {
    const next: (Probed | undefined)[] = [];
    const fresh: number[] = [];
    const now = new Date().toISOString();
    brokers.forEach((b, i) => {
      const old = this.#probed[i];
      if (b.removed) return;
      if (old && old.broker.name === b.name && old.broker.address === b.address) {
        old.broker = b;
        next[i] = old;
        return;
      }
      // Brokers start up (the broker set brought them in healthy): a dead one is found within fall probes.
      next[i] = { broker: b, state: new RiseFall(this.#cfg.rise, this.#cfg.fall, 'up'), since: now, checks: 0, failures: 0, last: undefined, timer: undefined };
      fresh.push(i);
    });
    this.#probed.forEach((old, i) => { if (old && next[i] !== old) clearTimeout(old.timer); });
    this.#probed = next;
    // New brokers are probed within an interval (spread, so a set that doubles does not probe at once).
    if (this.#started) for (const i of fresh) this.#schedule(i, next[i]!, Math.floor(Math.random() * this.#cfg.intervalMs));
  }

  /**
   * Passive health marked broker i down (its connects fail): the probes now need `rise` passes in a row
   * to bring it back. False if slot i is not probed.
   */
  markDown(i: number, reason: string, detail: string): boolean {
    const p = this.#probed[i];
    if (!p) return false;
    p.state = new RiseFall(this.#cfg.rise, this.#cfg.fall, 'down');
    p.since = new Date().toISOString();
    p.last = { ok: false, reason, detail, ms: 0, at: p.since };
    return true;
  }

  /** Broker i's health now, or undefined for a slot that is not probed (removed, free). */
  health(i: number): BrokerHealth | undefined {
    const p = this.#probed[i];
    return p && { state: p.state.state, since: p.since, streak: p.state.streak, checks: p.checks, failures: p.failures, last: p.last && { ...p.last } };
  }

  /** Stops probing; resolves when the probes in flight are over (each ends within its timeout). */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const p of this.#probed) clearTimeout(p?.timer);
    await Promise.all(this.#inFlight);
  }

  #schedule(i: number, p: Probed, delayMs: number): void {
    if (this.#stopped || this.#probed[i] !== p) return;
    p.timer = setTimeout(() => {
      const run = this.#check(i, p).catch((err: unknown) => {
        // A bug here must not stop the checks (nor the primary): log it, and keep probing.
        this.#log.error({ broker: p.broker.name, err: err instanceof Error ? err.message : String(err) }, 'health check failed internally');
      }).finally(() => {
        this.#inFlight.delete(run);
        this.#schedule(i, p, this.#cfg.intervalMs);
      });
      this.#inFlight.add(run);
    }, delayMs);
    p.timer.unref();
  }

  async #check(i: number, p: Probed): Promise<void> {
    const b = p.broker;
    const host = b.ip ?? b.host;
    const http = this.#http;
    // Both at once, both within the timeout; the MQTT verdict first when both fail.
    const [mqtt, ready] = await Promise.all([
      this.#probe(host, b.port, {
        timeoutMs: this.#cfg.timeoutMs, clientId: `${this.#cfg.clientIdPrefix}${this.#tag}-${i}`,
        username: this.#cfg.username, password: this.#password, protocolVersion: this.#cfg.protocolVersion,
      }),
      http ? (http.probe ?? probeHttp)(host, { scheme: http.scheme, port: http.port, path: http.path, timeoutMs: this.#cfg.timeoutMs }) : undefined,
    ]);
    const r = !mqtt.ok || ready === undefined || ready.ok ? mqtt : ready;
    // Stopped, or the slot has another broker now: this result is about nobody we serve.
    if (this.#stopped || this.#probed[i] !== p) return;
    const at = new Date().toISOString();
    p.checks++;
    this.#counters.add('health_checks');
    if (r.ok) {
      p.last = { ok: true, ms: Math.round(r.ms), at };
    } else {
      p.failures++;
      p.last = { ok: false, reason: r.reason, detail: r.detail, ms: Math.round(r.ms), at };
      this.#counters.add('health_check_failures');
      if (this.#log.isLevelEnabled('debug')) this.#log.debug({ broker: b.name, address: b.address, reason: r.reason, detail: r.detail }, 'broker health check failed');
    }
    const flipped = p.state.record(r.ok);
    if (flipped === undefined) return;
    p.since = at;
    if (flipped === 'up') {
      this.#table.markUp(i, stickyNowSec());
      this.#counters.add('broker_marked_up');
      this.#log.info({ broker: b.name, address: b.address, rise: this.#cfg.rise }, 'broker marked up: new clients are placed on it again');
    } else {
      this.#table.setHealthy(i, false);
      this.#counters.add('broker_marked_down');
      this.#log.warn({ broker: b.name, address: b.address, reason: p.last.reason, detail: p.last.detail, fall: this.#cfg.fall }, 'broker marked down: no new clients are placed on it');
    }
  }
}
