// Runs Sluice in the primary thread: shared memory, demo brokers (if configured), workers, admin, signals.
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/resolved.ts';
import type { TlsMaterial } from '../tls/material.ts';
import { kTicketKeyRotationMs, TicketKeys } from '../tls/ticket-keys.ts';
import { TlsReloader } from '../tls/reloader.ts';
import { BrokerTable } from '../brokers/broker-table.ts';
import { MAX_BROKERS } from '../brokers/layout.ts';
import { StickyTable } from '../sticky/table.ts';
import { stickyNowSec } from '../sticky/clock.ts';
import { Counters, CounterTotals } from '../metrics/counters.ts';
import { Admission } from '../limits/admission.ts';
import { WorkerShares } from '../limits/worker-shares.ts';
import { startDemoCluster, type DemoCluster } from '../demo/cluster.ts';
import { startAdmin } from '../admin/server.ts';
import { Supervisor } from './supervisor.ts';
import { claimListenAddresses } from './address-claim.ts';
import { BrokerControl } from './broker-control.ts';
import { ConfigReloader, type ReloadResult } from './config-reload.ts';
import { DrainCloser } from './drain-closer.ts';
import { Rebalancer } from './rebalancer.ts';
import { ListenerControl } from './listener-control.ts';
import { createMetrics } from '../metrics/prometheus.ts';
import { ConnectionStats, ConnectionTotals } from '../metrics/connection-stats.ts';
import { ListenerSlots } from './listener-slots.ts';
import type { ServiceNotify } from './service-notify.ts';
import type { LogFormat } from '../log.ts';

const stickySweepIntervalMs = 1000;
// Workers' event cells are 32-bit: folding loses nothing while no cell moves 2^32 between two folds (a
// worker at 100k events/s takes 12 hours); admin reads fold too, so counts are exact when asked.
const counterFoldIntervalMs = 1000;

export type Running = {
  /** SIGTERM: the drain (config shutdown.drain_timeout), then everything stops. Again: the drain ends now. */
  stop(): Promise<void>;
  /** SIGHUP (and POST /api/reload): reloads the config file and the TLS files; on any problem what runs
   *  stays. */
  reload(trigger: string): Promise<ReloadResult>;
};

/**
 * source: how logs name the config; configPath: its file (undefined: the embedded default, nothing to
 * reload); probePassword and adminToken: read by the primary before the start, never sent to the workers.
 */
export type RunOptions = { source?: string; configPath?: string; probePassword?: Buffer; adminToken?: Buffer; notify?: ServiceNotify; logFormat?: LogFormat };

/** `tls`: each listener's certificates and keys (loadTlsMaterial), undefined for a plain listener. */
export async function runSluice(config: ResolvedConfig, log: Logger, tls: (TlsMaterial | undefined)[], opts: RunOptions = {}): Promise<Running> {
  const source = opts.source ?? 'config';
  // First: no other process may serve our addresses (SO_REUSEPORT would let it share them).
  const claim = await claimListenAddresses(config.listeners.map((l) => l.bind));
  const epochMs = Date.now();
  const brokerTableSlots = MAX_BROKERS;
  const shared = {
    brokers: BrokerTable.allocate(brokerTableSlots),
    sticky: StickyTable.allocate(config.sticky.capacity),
    counters: Counters.allocate(),
    connections: ConnectionStats.allocate(),
    admission: Admission.allocate(),
    shares: WorkerShares.allocate(brokerTableSlots),
    ticketKeys: TicketKeys.allocate(),
  };
  const ticketKeys = new TicketKeys(shared.ticketKeys);
  const brokerTable = new BrokerTable(shared.brokers);
  const stickyTable = new StickyTable(shared.sticky);
  const counters = new CounterTotals(shared.counters);
  const admission = new Admission(shared.admission, config.limits, epochMs);
  admission.init(Date.now());
  // The broker set: static and discovered brokers, names resolved here (workers dial IPs); they start
  // healthy (health checks, if configured, flip that), drain: true ones take no new client.
  const brokers = new BrokerControl(config, brokerTable, log, counters, opts.probePassword);

  let demo: DemoCluster | undefined;
  try {
    if (config.demo) demo = await startDemoCluster(config.demo, config.brokers, log);
    await brokers.init();
  } catch (err) {
    await brokers.stop();
    await demo?.close();
    await claim.release();
    throw err;
  }

  const shares = new WorkerShares(shared.shares);
  const releaseWorker = (workerId: number): number => {
    // Its last counts first, and its slot zeroed before a replacement counts in it.
    counters.retire(workerId);
    connections.retire(workerId);
    const share = shares.take(workerId);
    admission.releaseShare(share);
    brokerTable.releaseShare(share.live);
    const dropped = share.admitted + share.pending;
    if (dropped > 0) counters.add('connections_dropped_worker_exit', dropped);
    return dropped;
  };
  // Workers get the broker set by slot, with the addresses resolved.
  // Per-listener counts: each listener's slot in shared.connections, stable across reloads.
  const connections = new ConnectionTotals(shared.connections);
  const listenerSlots = new ListenerSlots((slot) => connections.resetListener(slot));
  const initialSlots = listenerSlots.plan(config.listeners);
  listenerSlots.commit(config.listeners, initialSlots);
  const supervisor = new Supervisor({ ...config, brokers: brokers.brokers }, log, shared, epochMs, releaseWorker, tls, opts.logFormat ?? 'json', initialSlots);
  const folder = setInterval(() => { counters.fold(); connections.fold(); }, counterFoldIntervalMs);
  folder.unref();
  let admin: Server | undefined;
  let drainCloser: DrainCloser | undefined;
  let rebalancer: Rebalancer | undefined;
  const notify = opts.notify;
  const readyStatus = () => `serving ${supervisor.status().length} workers, ${brokers.brokers.filter((b) => b.name !== '' && !b.removed).length} brokers`;
  const reloadAll = async (trigger: string): Promise<ReloadResult> => {
    notify?.reloading();
    let result: ReloadResult = { ok: true, applied: [], restartNeeded: [] };
    try {
      if (configReloader) result = await configReloader.reload(trigger);
      else log.info({ trigger }, 'reload: running on the embedded default config, no file to read again');
      await reloader.reload(trigger);
    } finally {
      notify?.ready(result.ok ? readyStatus() : `reload refused; running as before: ${result.error}`);
    }
    return result;
  };
  // Always there: a reload can add the first TLS listener. Its pool starts a thread only when asked.
  const reloader = new TlsReloader(config, source, tls, log, (material) => supervisor.setTls(material));
  const listeners = new ListenerControl(config.listeners, claim, supervisor, reloader, log, listenerSlots);
  const configReloader = opts.configPath === undefined ? undefined : new ConfigReloader(config, {
    path: opts.configPath, log, counters,
    applyListeners: (list) => listeners.apply(list),
    applyConfig: (staticBrokers, balance) => brokers.applyConfig(staticBrokers, balance),
    applyHealth: (health, password) => brokers.applyHealth(health, password),
    applyDiscovery: (discovery) => brokers.applyDiscovery(discovery),
    applyRuntime: (level, idle) => { log.level = level; supervisor.setRuntime(level, idle); },
  });
  try {
    await supervisor.start();
    brokers.start((set, balance) => supervisor.setBrokers(set, balance));
    drainCloser = new DrainCloser(brokerTable, () => brokers.brokers, config.workers, (broker, count) => supervisor.broadcast({ type: 'close-on-broker', broker, count }));
    rebalancer = new Rebalancer(brokerTable, () => brokers.brokers, () => brokers.balance.rebalanceRate, config.workers,
      (broker, count) => supervisor.broadcast({ type: 'move-to-broker', broker, count }), log);
    reloader.watchFiles();
    if (config.admin) admin = await startAdmin({
      config, brokers: () => brokers.brokers, supervisor, brokerTable, stickyTable, counters, admission, log, tls: reloader,
      health: brokers, discovery: () => brokers.discoveryStatus(),
      metrics: createMetrics({
        counters, brokers: () => brokers.brokers, brokerTable, stickyTable, admission, workers: () => supervisor.status(), tls: reloader,
        connections, listeners: () => listenerSlots.current(),
      }),
      token: opts.adminToken, balance: () => brokers.balance, drain: (name, drain, rate) => brokers.setDrain(name, drain, rate), reload: reloadAll,
    });
  } catch (err) {
    clearInterval(folder);
    drainCloser?.stop();
    rebalancer?.stop();
    await brokers.stop();
    await reloader.close();
    await supervisor.stop(0);
    await demo?.close();
    await claim.release();
    throw err;
  }

  // Sweep the whole sticky table about twice per TTL, a slice a second, so expired pins free their slots.
  const slotsPerSweep = Math.max(1024, Math.ceil(stickyTable.capacity / Math.max(1, config.sticky.ttlSec / 2)));
  const sweeper = setInterval(() => stickyTable.sweep(slotsPerSweep, stickyNowSec(), config.sticky.ttlSec), stickySweepIntervalMs);
  sweeper.unref();
  // TLS session tickets: one key set for every worker, replaced on a schedule.
  const rotator = setInterval(() => { ticketKeys.rotate(); supervisor.broadcast({ type: 'tls-ticket-keys' }); }, kTicketKeyRotationMs);
  rotator.unref();

  log.info({
    listeners: config.listeners.map((l) => (l.protocol === 'mqtt' ? l.bind.address : `${l.protocol}://${l.bind.address}`)), workers: config.workers,
    brokers: brokers.brokers.filter((b) => b.name !== '').map((b) => `${b.name}=${b.address}${b.drain ? ' (draining)' : ''}`), strategy: config.balance.strategy,
    discovery: config.discovery.map((d) => d.type),
    health: config.health.mqtt ? `mqtt every ${config.health.mqtt.intervalMs}ms` : 'off',
  }, 'sluice ready');
  notify?.ready(readyStatus());
  let stopping: Promise<void> | undefined;

  return {
    reload: reloadAll,
    stop() {
      if (stopping) {
        // Asked again (a second signal): the drain ends now.
        log.info('shutdown: the drain ends now');
        supervisor.broadcast({ type: 'shutdown', drainMs: 0 });
        return stopping;
      }
      stopping = (async () => {
        const drainMs = config.shutdown.drainTimeoutMs;
        notify?.stopping(`draining: live connections get up to ${drainMs} ms`);
        log.info({ drainMs }, 'shutting down: listeners closed; live connections may finish');
        drainCloser?.stop();
        rebalancer?.stop();
        // The admin endpoint stays up through the drain: /readyz says 503, /api/stats shows who is left.
        await supervisor.stop(drainMs);
        await brokers.stop();
        await reloader.close();
        clearInterval(sweeper);
        clearInterval(rotator);
        admin?.close();
        clearInterval(folder);
        await demo?.close();
        await claim.release();
        notify?.stop();
        log.info('sluice stopped');
      })();
      return stopping;
    },
  };
}
