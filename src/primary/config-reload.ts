// SIGHUP reload of the config file in the primary. The new file is read and checked whole (YAML, schema,
// listener addresses, the probe password file, the broker set fitting the table); anything wrong refuses
// it whole, logs why, and the running config stays. What a reload changes while running: the listeners
// (added, removed, changed: src/primary/listener-control.ts; done first, as the one step that can still
// fail), the broker set (added, removed, re-weighted, drained: src/primary/broker-control.ts), the balance
// settings, the discovery sources, the health checks, the log level and the idle limit. Live connections
// are untouched (their broker keeps its slot) and the sticky table stays. A change to any other key is
// logged as needing a restart and is not applied.
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/resolved.ts';
import { loadConfigFile } from '../config/load.ts';
import { resolveListenerAddresses } from '../config/listeners.ts';
import { readProbePassword } from '../health/credentials.ts';
import type { CounterSink } from '../metrics/counters.ts';

/** Keys a reload applies while running (of limits, idle only: see changedKeys). */
const liveKeys = ['listeners', 'brokers', 'balance', 'discovery', 'health', 'log', 'limits.idle'] as const;

/**
 * Keys whose value differs (compared as JSON; the resolved configs have no functions): top-level keys,
 * except that limits.idle is told apart from the rest of limits (it applies live, the rest at a restart),
 * and log.format from log.level (the level applies live, the format at a restart).
 */
export function changedKeys(a: ResolvedConfig, b: ResolvedConfig): string[] {
  const same = (x: unknown, y: unknown) => JSON.stringify(x) === JSON.stringify(y);
  const out: string[] = (Object.keys(a) as (keyof ResolvedConfig)[]).filter((k) => k !== 'limits' && k !== 'log' && !same(a[k], b[k]));
  if (a.log.level !== b.log.level) out.push('log');
  if (a.log.format !== b.log.format) out.push('log.format');
  if (a.limits.idle !== b.limits.idle) out.push('limits.idle');
  if (!same({ ...a.limits, idle: 0 }, { ...b.limits, idle: 0 })) out.push('limits');
  return out;
}

/** How a reload went: the keys applied and those that wait for a restart, or why the file was refused. */
export type ReloadResult = { ok: true; applied: string[]; restartNeeded: string[] } | { ok: false; error: string };

export type ReloadDeps = {
  path: string;
  /** The new listeners to every worker; throws (nothing changed) when one cannot listen. */
  applyListeners(listeners: ResolvedConfig['listeners']): Promise<void>;
  /** New static brokers (undefined: unchanged) and balance settings, to the broker table and the workers;
   *  throws (nothing changed) when the set does not fit the table. */
  applyConfig(staticBrokers: ResolvedConfig['brokers'] | undefined, balance: ResolvedConfig['balance']): Promise<void>;
  /** New discovery sources (sources that stay keep running); rejects when the combined set does not fit. */
  applyDiscovery(discovery: ResolvedConfig['discovery']): Promise<void>;
  /** New health settings (the same ones: nothing happens). */
  applyHealth(health: ResolvedConfig['health'], probePassword: Buffer | undefined): Promise<void>;
  /** The log level and the idle limit, for the primary and every worker. */
  applyRuntime(level: ResolvedConfig['log']['level'], idle: ResolvedConfig['limits']['idle']): void;
  log: Logger;
  counters: CounterSink;
};

export class ConfigReloader {
  #current: ResolvedConfig;
  readonly #d: ReloadDeps;
  #running: Promise<unknown> = Promise.resolve();

  constructor(current: ResolvedConfig, deps: ReloadDeps) {
    this.#current = current;
    this.#d = deps;
  }

  /** Reloads run one at a time, in order. */
  reload(trigger: string): Promise<ReloadResult> {
    const run = this.#running.then(() => this.#reloadNow(trigger));
    this.#running = run.catch(() => undefined);
    return run;
  }

  async #reloadNow(trigger: string): Promise<ReloadResult> {
    const { path, log, counters } = this.#d;
    const current = this.#current;
    let next: ResolvedConfig;
    let probePassword: Buffer | undefined;
    let restartNeeded: string[];
    let applied: string[];
    let listenersChanged = false;
    try {
      next = await resolveListenerAddresses(loadConfigFile(path), path);
      probePassword = readProbePassword(next, path);
      const changed = changedKeys(current, next);
      // A demo cluster's brokers come with it: another demo: block is a restart, and its brokers wait too.
      const demoChanged = changed.includes('demo');
      applied = changed.filter((k) => (liveKeys as readonly string[]).includes(k) && !(demoChanged && k === 'brokers'));
      restartNeeded = changed.filter((k) => !applied.includes(k));
      if (applied.includes('listeners')) {
        await this.#d.applyListeners(next.listeners);
        listenersChanged = true;
      }
      if (applied.includes('brokers') || applied.includes('balance')) await this.#d.applyConfig(applied.includes('brokers') ? next.brokers : undefined, next.balance);
    } catch (err) {
      // Whole or not at all: listeners already changed go back.
      if (listenersChanged) await this.#d.applyListeners(current.listeners).catch((e: Error) => log.error({ reason: e.message }, 'config reload: the listeners could not be put back'));
      const error = err instanceof Error ? err.message : String(err);
      counters.add('config_reload_failures');
      log.error({ trigger, path, reason: error }, 'config reload refused; the running config stays');
      return { ok: false, error };
    }
    if (applied.includes('discovery')) {
      // After the checks: the sources themselves are valid; only what they discover could fail to fit.
      await this.#d.applyDiscovery(next.discovery).catch((e: Error) => log.error({ trigger, reason: e.message }, 'config reload: the new discovery sources run, but their set was not applied'));
    }
    await this.#d.applyHealth(next.health, probePassword);
    if (applied.includes('log') || applied.includes('limits.idle')) this.#d.applyRuntime(next.log.level, next.limits.idle);
    this.#current = {
      ...current,
      listeners: next.listeners,
      discovery: next.discovery,
      balance: next.balance,
      health: next.health,
      log: { ...current.log, level: next.log.level },
      limits: { ...current.limits, idle: next.limits.idle },
      brokers: applied.includes('brokers') ? next.brokers : current.brokers,
    };
    counters.add('config_reloads');
    log.info({ trigger, path, applied }, 'config reloaded');
    if (restartNeeded.length > 0) log.warn({ trigger, keys: restartNeeded }, 'config reload: these keys changed but apply only at a restart; they keep their running values');
    return { ok: true, applied, restartNeeded };
  }
}
