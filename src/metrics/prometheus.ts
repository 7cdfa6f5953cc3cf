// GET /metrics: the Prometheus text format (prom-client), rendered on each scrape from what the primary
// already holds: the worker counters folded from shared memory, the broker table, the sticky table, the
// supervisor's workers, the TLS certificates. Workers never send a message per connection for it. Label
// values are bounded: brokers, listeners, outcome and result names, never a client id.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type MetricObjectWithValues, type MetricValueWithName } from 'prom-client';
import type { BrokerConfig, ListenerConfig } from '../config/resolved.ts';
import type { BrokerTable } from '../brokers/broker-table.ts';
import type { StickyTable } from '../sticky/table.ts';
import type { Admission } from '../limits/admission.ts';
import type { TlsMaterial } from '../tls/material.ts';
import type { CounterName } from './counters.ts';
import { takesNewClients } from '../brokers/takes-clients.ts';
import { listenerLabel } from '../config/listeners.ts';
import { connectionEnds, handshakeRefusals, kConnectBucketsSec, type ConnectionTotals } from './connection-stats.ts';

export type MetricsSources = {
  counters: { snapshot(): Record<CounterName, number> };
  brokers: () => readonly BrokerConfig[];
  brokerTable: BrokerTable;
  stickyTable: StickyTable;
  admission: Admission;
  workers: () => { state: string; restarts: number }[];
  tls?: { listeners: readonly ListenerConfig[]; material: readonly (TlsMaterial | undefined)[] };
  /** Per-listener counts and the CONNECT-phase histogram. */
  connections: ConnectionTotals;
  /** The listeners now: count slot and label (protocol://bind). */
  listeners: () => { slot: number; label: string }[];
};

/** How an accepted connection ended up, besides forwarded: refused or closed before it was forwarded. */
const earlyEnds = connectionEnds.filter((e) => e !== 'connections_closed');
/** Why a forwarded connection ended, beyond either side closing it (those are in connections_closed). */
const closeReasons = { idle: 'connections_idle_closed', drained: 'connections_drained', rebalanced: 'connections_rebalanced' } as const satisfies Record<string, CounterName>;
const tlsResults = { ok: 'tls_handshakes', failed: 'tls_handshake_failed', timeout: 'tls_handshake_timeout', client_cert_rejected: 'tls_client_cert_rejected' } as const satisfies Record<string, CounterName>;
const stickyResults = { hit: 'sticky_hits', miss: 'sticky_misses', stale: 'sticky_stale', unrecorded: 'sticky_unrecorded' } as const satisfies Record<string, CounterName>;


/** A histogram whose buckets are counted elsewhere (the workers, in shared memory): each scrape reads them. */
class TotalsHistogram extends Histogram<string> {
  readonly #read: () => { buckets: number[]; count: number; sumSec: number };
  readonly #name: string;
  readonly #help: string;

  constructor(name: string, help: string, buckets: readonly number[], registry: Registry, read: () => { buckets: number[]; count: number; sumSec: number }) {
    super({ name, help, buckets: [...buckets], registers: [registry] });
    this.#read = read;
    this.#name = name;
    this.#help = help;
  }

  /** The registry renders histograms from this one when it exists. */
  async getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    return this.get();
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const h = this.#read();
    const name = this.#name;
    const values: MetricValueWithName<string>[] = kConnectBucketsSec.map((le, b) => ({ metricName: `${name}_bucket`, labels: { le }, value: h.buckets[b] }));
    values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: h.buckets[kConnectBucketsSec.length] });
    values.push({ metricName: `${name}_sum`, labels: {}, value: h.sumSec }, { metricName: `${name}_count`, labels: {}, value: h.count });
    return { name, help: this.#help, type: 'histogram' as never, values, aggregator: 'sum', collect: () => undefined };
  }
}

export type Metrics = { contentType: string; render(): Promise<string> };

export function createMetrics(src: MetricsSources): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sluice_' });
  // Counters taken from totals kept elsewhere: each scrape sets them to the total now.
  const fromTotals = <L extends string>(name: string, help: string, labelNames: L[], values: () => [Record<L, string>, number][]) =>
    new Counter({
      name, help, labelNames, registers: [registry],
      collect() {
        this.reset();
        for (const [labels, v] of values()) this.inc(labels, v);
      },
    });
  const gauge = <L extends string>(name: string, help: string, labelNames: L[], values: () => [Record<L, string>, number][]) =>
    new Gauge({
      name, help, labelNames, registers: [registry],
      collect() {
        this.reset();
        for (const [labels, v] of values()) this.set(labels, v);
      },
    });
  // One snapshot per scrape (a fold of every worker's counters), shared by the metrics below.
  let counts: Record<CounterName, number> | undefined;
  const c = (name: CounterName) => (counts ??= src.counters.snapshot())[name] ?? 0;
  const brokersNow = () => src.brokers().map((b, i) => ({ b, i })).filter(({ b }) => b.name !== '');

  const perListener = () => src.listeners().map(({ slot, label }) => ({ listener: label, t: src.connections.listener(slot) }));
  fromTotals('sluice_connections_accepted_total', 'Client connections accepted, per listener (TLS and WebSocket: after the handshake or upgrade)', ['listener'],
    () => perListener().map(({ listener, t }) => [{ listener }, t.accepted]));
  fromTotals('sluice_connections_total', 'Accepted client connections by outcome, per listener: forwarded to a broker, or refused or closed before it (and why)', ['listener', 'outcome'],
    () => perListener().flatMap(({ listener, t }) => [
      [{ listener, outcome: 'forwarded' }, t.forwarded] as [Record<'listener' | 'outcome', string>, number],
      ...earlyEnds.map((e): [Record<'listener' | 'outcome', string>, number] => [{ listener, outcome: e }, t.ends[e]]),
      [{ listener, outcome: 'dropped_worker_exit' }, t.ends.dropped_worker_exit],
    ]));
  fromTotals('sluice_connections_closed_total', 'Forwarded connections that ended, all reasons, per listener', ['listener'],
    () => perListener().map(({ listener, t }) => [{ listener }, t.ends.connections_closed]));
  fromTotals('sluice_handshake_refusals_total', 'Connections refused per listener before they were accepted as MQTT: TLS handshake, client certificate, a front balancer\'s PROXY header, HTTP upgrade', ['listener', 'reason'],
    () => perListener().flatMap(({ listener, t }) => handshakeRefusals.map((reason): [Record<'listener' | 'reason', string>, number] => [{ listener, reason }, t.refusedBeforeAccept[reason]])));
  fromTotals('sluice_websocket_upgrades_total', 'WebSocket upgrades done', [], () => [[{}, c('ws_upgrades')]]);
  fromTotals('sluice_websocket_messages_refused_total', 'WebSocket connections closed for a message MQTT cannot carry', ['reason'],
    () => [[{ reason: 'text_frame' }, c('ws_text_frame')], [{ reason: 'frame_too_large' }, c('ws_frame_too_large')]]);
  gauge('sluice_connections_active', 'Client connections open per listener: in the CONNECT phase, placing or forwarding', ['listener'],
    () => perListener().map(({ listener, t }) => [{ listener }, t.active]));
  new TotalsHistogram('sluice_connect_duration_seconds', 'From accept to the CONNECT forwarded to a broker (TLS and WebSocket: from the handshake or upgrade)',
    kConnectBucketsSec, registry, () => src.connections.histogram());
  fromTotals('sluice_connections_closed_by_sluice_total', 'Forwarded connections Sluice closed, by reason', ['reason'],
    () => Object.entries(closeReasons).map(([reason, n]) => [{ reason }, c(n)]));
  gauge('sluice_connections_admitted', 'Client connections admitted (placing or forwarding: what limits.max_connections counts)', [], () => [[{}, src.admission.openClients()]]);
  gauge('sluice_connections_pending', 'Client connections still sending CONNECT', [], () => [[{}, src.admission.pendingClients()]]);
  fromTotals('sluice_bytes_total', 'Bytes forwarded (the CONNECT and everything after it), by direction', ['direction'],
    () => [[{ direction: 'client_to_broker' }, c('bytes_client_to_broker')], [{ direction: 'broker_to_client' }, c('bytes_broker_to_client')]]);

  gauge('sluice_broker_connections_active', 'Forwarded connections per broker', ['broker'], () => brokersNow().map(({ b, i }) => [{ broker: b.name }, src.brokerTable.liveConnections(i)]));
  gauge('sluice_broker_up', '1 when the broker takes new clients (healthy, not draining, not removed, weight above 0)', ['broker'],
    () => brokersNow().map(({ b, i }) => [{ broker: b.name }, takesNewClients(b, i, src.brokerTable) ? 1 : 0]));
  gauge('sluice_broker_healthy', '1 when the health checks (or passive health) say the broker is up', ['broker'], () => brokersNow().map(({ b, i }) => [{ broker: b.name }, src.brokerTable.isHealthy(i) ? 1 : 0]));
  gauge('sluice_broker_draining', '1 while the broker drains (config, admin API, or removed from the set)', ['broker'],
    () => brokersNow().map(({ b, i }) => [{ broker: b.name }, b.drain || b.removed || src.brokerTable.isDraining(i) ? 1 : 0]));
  fromTotals('sluice_broker_bytes_total', 'Bytes forwarded per broker (published once a second while connections live), by direction', ['broker', 'direction'],
    () => brokersNow().flatMap(({ b, i }) => {
      const [toBroker, toClient] = src.brokerTable.bytes(i);
      return [[{ broker: b.name, direction: 'client_to_broker' }, toBroker], [{ broker: b.name, direction: 'broker_to_client' }, toClient]] as [Record<'broker' | 'direction', string>, number][];
    }));
  fromTotals('sluice_broker_connect_failures_total', 'Broker connects that failed (refused, timed out, unresolvable)', ['broker'],
    () => brokersNow().map(({ b, i }) => [{ broker: b.name }, src.brokerTable.failureTotals(i).connects]));
  fromTotals('sluice_broker_connack_refusals_total', 'CONNACKs in which the broker refused a client for its own state (passive health reads them)', ['broker'],
    () => brokersNow().map(({ b, i }) => [{ broker: b.name }, src.brokerTable.failureTotals(i).connackRefusals]));

  gauge('sluice_sticky_entries', 'Pins in the sticky table', [], () => [[{}, src.stickyTable.size()]]);
  gauge('sluice_sticky_capacity', 'Slots of the sticky table', [], () => [[{}, src.stickyTable.capacity]]);
  fromTotals('sluice_sticky_lookups_total', 'Sticky table lookups by result (stale: a pin to a gone or reused broker; unrecorded: no room to pin)', ['result'],
    () => Object.entries(stickyResults).map(([result, n]) => [{ result }, c(n)]));
  fromTotals('sluice_tls_handshakes_total', 'TLS handshakes by result', ['result'], () => Object.entries(tlsResults).map(([result, n]) => [{ result }, c(n)]));
  gauge('sluice_tls_certificate_expiry_timestamp_seconds', 'When each served certificate expires (Unix seconds)', ['listener', 'file'],
    () => (src.tls?.listeners ?? []).flatMap((l, i) => (src.tls?.material[i]?.pairs ?? []).map((p): [Record<'listener' | 'file', string>, number] => [{ listener: listenerLabel(l), file: p.certFile }, p.notAfterMs / 1000])));

  gauge('sluice_workers', 'Worker threads by state', ['state'], () => {
    const byState = new Map<string, number>([['listening', 0], ['starting', 0], ['restarting', 0]]);
    for (const w of src.workers()) byState.set(w.state, (byState.get(w.state) ?? 0) + 1);
    return [...byState].map(([state, n]) => [{ state }, n]);
  });
  fromTotals('sluice_worker_restarts_total', 'Worker threads replaced after they died', [], () => [[{}, src.workers().reduce((n, w) => n + w.restarts, 0)]]);
  fromTotals('sluice_config_reloads_total', 'Config reloads (SIGHUP, POST /api/reload) by result', ['result'], () => [[{ result: 'applied' }, c('config_reloads')], [{ result: 'refused' }, c('config_reload_failures')]]);
  fromTotals('sluice_health_checks_total', 'Active broker health probes by result', ['result'],
    () => [[{ result: 'ok' }, c('health_checks') - c('health_check_failures')], [{ result: 'failed' }, c('health_check_failures')]]);
  fromTotals('sluice_admin_requests_total', 'Admin API requests', [], () => [[{}, c('admin_requests')]]);

  return {
    contentType: registry.contentType,
    async render() {
      counts = undefined;
      return registry.metrics();
    },
  };
}
