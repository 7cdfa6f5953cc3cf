// Admin routes: the table of paths and methods, and the router that turns any method and target into
// a reply (400 bad target, 404, 405 with Allow, 500 for a handler that throws or rejects). Never throws.
import type { Logger } from 'pino';
import type { BrokerConfig, ResolvedConfig } from '../config/resolved.ts';
import type { BrokerTable } from '../brokers/broker-table.ts';
import type { StickyTable } from '../sticky/table.ts';
import type { CounterTotals } from '../metrics/counters.ts';
import type { Admission } from '../limits/admission.ts';
import type { Supervisor } from '../primary/supervisor.ts';
import { RateLimitedLog } from '../log.ts';
import { parseTarget } from './target.ts';
import { kStickyEpochMs } from '../sticky/clock.ts';
import { slowStartShare } from '../brokers/slow-start.ts';
import type { TlsMaterial } from '../tls/material.ts';
import type { ReloadOutcome } from '../tls/reloader.ts';
import type { BrokerHealth } from '../health/checker.ts';
import type { SourceStatus } from '../discovery/polling-source.ts';
import type { ReloadResult } from '../primary/config-reload.ts';
import { bearerMatches } from './token.ts';
import { takesNewClients } from '../brokers/takes-clients.ts';
import { clientView } from './client-view.ts';
import { openApiDocument } from './openapi.ts';
import type { Metrics } from '../metrics/prometheus.ts';

export type AdminDeps = {
  config: ResolvedConfig;
  /** The broker set now (index = broker-table slot; it changes on reload). */
  brokers: () => readonly BrokerConfig[];
  supervisor: Supervisor;
  brokerTable: BrokerTable;
  stickyTable: StickyTable;
  counters: CounterTotals;
  admission: Admission;
  log: Logger;
  /** The listeners now (a reload may change them), their TLS certificates and the last TLS reload. */
  tls?: { listeners: ResolvedConfig['listeners']; material: (TlsMaterial | undefined)[]; lastReload: ReloadOutcome | undefined };
  /** Broker i's health checks (undefined: health checks are off). */
  health?: { health(i: number): BrokerHealth | undefined };
  /** Each discovery source's state. */
  discovery?: () => SourceStatus[];
  /** The bearer token calls that change something need (undefined: such calls are refused). */
  token?: Buffer;
  /** The balance settings now (a reload may change them). */
  balance?: () => ResolvedConfig['balance'];
  /** Drains (or undrains) a broker by name until a restart, with a close rate (undefined: the config's). */
  drain?: (name: string, drain: boolean, closeRate: number | undefined) => Promise<'ok' | 'not-found'>;
  /** The Prometheus exposition (GET /metrics). */
  metrics?: Metrics;
  /** Reloads the config file, as SIGHUP does, and says how it went. */
  reload?: (trigger: string) => Promise<ReloadResult>;
};

/** What the server writes: a status, a JSON body, extra headers, and whether to close the connection. */
export type AdminReply = { status: number; body: unknown; headers?: Record<string, string>; close?: boolean; text?: { contentType: string; content: string } };

/** `params`: the path's `{name}` segments, percent-decoded. */
type Handler = (url: URL, params: Record<string, string>) => AdminReply | Promise<AdminReply>;
/** mutates: changes something, so it needs the bearer token (admin.token_file). */
type Route = { method: 'GET' | 'POST'; handler: Handler; usage?: string; mutates?: boolean };

/** Routes a request: `method` and `target` are as Node read them from the request line, `authorization`
 *  is the Authorization header (checked for calls that change something, never logged). */
export type AdminRouter = (method: string, target: string, authorization?: string) => Promise<AdminReply>;

const maxClientsListed = 10_000;

const ok = (body: unknown): AdminReply => ({ status: 200, body });

/** A broker's slow-start ramp while it runs: since when, and the share of new clients it takes now. */
function slowStartOf(rampMs: number, upSinceSec: number): { since: string; share: number } | undefined {
  const share = slowStartShare(rampMs, upSinceSec);
  if (share >= 1) return undefined;
  return { since: new Date(kStickyEpochMs + upSinceSec * 1000).toISOString(), share: Math.round(100 * share) / 100 };
}

function routeTable(d: AdminDeps, testHooks: boolean): Map<string, Route> {
  const routes = new Map<string, Route>([
    // Alive: the primary answers. The workers' states are shown; readiness is /readyz.
    ['/healthz', { method: 'GET', handler: () => ok({ status: 'ok', workers: d.supervisor.status() }) }],
    // Ready for clients: every worker listens and at least one broker takes new clients.
    ['/readyz', { method: 'GET', handler: () => {
      const listening = d.supervisor.allListening() && !d.supervisor.stopping;
      const brokersUp = d.brokers().filter((b, i) => takesNewClients(b, i, d.brokerTable)).length;
      const ready = listening && brokersUp > 0;
      const why = d.supervisor.stopping ? 'shutting down' : !listening ? 'not every worker is listening' : brokersUp === 0 ? 'no broker takes new clients (down, draining or weight 0)' : undefined;
      return { status: ready ? 200 : 503, body: { status: ready ? 'ready' : 'not ready', why, brokersUp, workers: d.supervisor.status() } };
    } }],
    ['/api/brokers', { method: 'GET', handler: () => ok(d.brokers().flatMap((b, i) => (b.name === '' ? [] : [{
      name: b.name, address: b.address, ip: b.ip, weight: b.weight,
      healthy: d.brokerTable.isHealthy(i), draining: d.brokerTable.isDraining(i),
      // Gone from the set; listed while its clients drain.
      removed: b.removed === true,
      liveConnections: d.brokerTable.liveConnections(i),
      health: d.health?.health(i),
      slowStart: slowStartOf(b.slowStartMs ?? 0, d.brokerTable.upSince(i)),
    }]))) }],
    ['/api/discovery', { method: 'GET', handler: () => ok({ sources: d.discovery?.() ?? [] }) }],
    ['/api/tls', { method: 'GET', handler: () => ok({
      listeners: (d.tls?.listeners ?? d.config.listeners).flatMap((l, i) => {
        const m = d.tls?.material[i];
        if (!m) return [];
        return [{
          listener: l.bind.address, protocol: l.protocol, clientAuth: m.clientAuth,
          certificates: m.pairs.map((p) => ({
            file: p.certFile, subject: p.subject, names: p.names, notAfter: new Date(p.notAfterMs).toISOString(),
            expiresInDays: Math.floor((p.notAfterMs - Date.now()) / 86_400_000),
          })),
        }];
      }),
      lastReload: d.tls?.lastReload,
    }) }],
    ['/api/clients', { method: 'GET', usage: '/api/clients?client_id=&limit=', handler: async (url) => {
      const limit = Math.min(maxClientsListed, Number(url.searchParams.get('limit') ?? 1000) || 1000);
      const clientId = url.searchParams.get('client_id') ?? undefined;
      return ok(await d.supervisor.listClients({ clientId, limit }));
    } }],
    ['/api/clients/{id}', { method: 'GET', handler: async (_url, params) => ok(await clientView(params.id, {
      brokers: d.brokers, balance: d.balance ?? (() => d.config.balance), brokerTable: d.brokerTable, stickyTable: d.stickyTable,
      stickyTtlSec: d.config.sticky.ttlSec, connections: async (clientId) => (await d.supervisor.listClients({ clientId, limit: 100 })).clients,
    })) }],
    ['/api/brokers/{name}/drain', { method: 'POST', mutates: true, usage: 'POST /api/brokers/{name}/drain?close_rate=N', handler: (url, params) => drainCall(d, params.name, true, url) }],
    ['/api/brokers/{name}/undrain', { method: 'POST', mutates: true, usage: 'POST /api/brokers/{name}/undrain', handler: (url, params) => drainCall(d, params.name, false, url) }],
    ['/api/reload', { method: 'POST', mutates: true, usage: 'POST /api/reload', handler: async () => {
      if (!d.reload) return { status: 404, body: { error: 'not available' } };
      const result = await d.reload('admin API');
      return { status: result.ok ? 200 : 409, body: result };
    } }],
    ['/openapi.json', { method: 'GET', handler: () => ok(openApiDocument) }],
    ['/metrics', { method: 'GET', handler: async () => {
      if (!d.metrics) return { status: 404, body: { error: 'not available' } };
      return { status: 200, body: null, text: { contentType: d.metrics.contentType, content: await d.metrics.render() } };
    } }],
    ['/api/stats', { method: 'GET', handler: async () => ok({
      counters: d.counters.snapshot(),
      openClients: d.admission.openClients(),
      pendingClients: d.admission.pendingClients(),
      // The data path the listening workers run: 'js', 'splice', or 'splice+js' if one fell back.
      datapath: [...new Set(d.supervisor.status().map((w) => w.datapath).filter(Boolean))].join('+') || undefined,
      splice: await d.supervisor.datapathStats(),
      sticky: { size: d.stickyTable.size(), capacity: d.stickyTable.capacity },
    }) }],
  ]);
  // Test hooks, off unless SLUICE_TEST_HOOKS=1: never reachable in a normal run.
  if (testHooks) {
    routes.set('/debug/crash-worker', { method: 'POST', handler: (url) => {
      const crashed = d.supervisor.crashWorker(Number(url.searchParams.get('id')));
      return { status: crashed ? 202 : 404, body: { ok: crashed } };
    } });
    // Full GC in every thread, then the V8 heap each uses (the bench's retained bytes per connection).
    routes.set('/debug/gc', { method: 'POST', handler: async () => {
      const heap = await d.supervisor.collectGarbage();
      return heap ? ok(heap) : { status: 404, body: { ok: false } };
    } });
    routes.set('/debug/throw', { method: 'GET', handler: (url) => {
      const err = new Error('handler failure requested by a test hook');
      if (url.searchParams.get('async') === '1') return Promise.reject(err);
      throw err;
    } });
  }
  return routes;
}

/** POST /api/brokers/{name}/drain and /undrain; close_rate (clients a second, all workers) with drain only. */
async function drainCall(d: AdminDeps, name: string, drain: boolean, url: URL): Promise<AdminReply> {
  if (!d.drain) return { status: 404, body: { error: 'not available' } };
  const raw = url.searchParams.get('close_rate');
  const closeRate = raw === null || !drain ? undefined : Number(raw);
  if (closeRate !== undefined && !(raw !== '' && Number.isFinite(closeRate) && closeRate >= 0 && closeRate <= 100_000)) {
    return { status: 400, body: { error: 'close_rate: a number of clients a second, 0..100000' } };
  }
  if (await d.drain(name, drain, closeRate) === 'not-found') return { status: 404, body: { error: 'no broker by that name in the set' } };
  return ok({ broker: name, draining: drain, closeRate });
}

type Compiled = { segments: string[]; route: Route };

/** The route for `path` and its `{name}` segments, percent-decoded; 'bad-escape' for a segment that
 *  does not decode (a broken %-escape sequence in UTF-8). */
function match(compiled: readonly Compiled[], path: string): { route: Route; params: Record<string, string> } | 'bad-escape' | undefined {
  const parts = path.split('/');
  for (const { segments, route } of compiled) {
    if (segments.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let matched = true;
    for (let k = 0; k < segments.length && matched; k++) {
      const want = segments[k];
      if (want.startsWith('{')) {
        try {
          params[want.slice(1, -1)] = decodeURIComponent(parts[k]);
        } catch {
          return 'bad-escape';
        }
        matched = parts[k] !== '';
      } else {
        matched = want === parts[k];
      }
    }
    if (matched) return { route, params };
  }
  return undefined;
}

export function createRouter(d: AdminDeps, opts: { testHooks: boolean }): AdminRouter {
  const routes = routeTable(d, opts.testHooks);
  const paths = [...routes].map(([path, r]) => r.usage ?? (r.method === 'GET' ? path : `${r.method} ${path}`));
  // Fixed paths first, so /api/clients never reads as a {name}.
  const compiled: Compiled[] = [...routes].map(([path, route]) => ({ segments: path.split('/'), route }))
    .sort((a, b) => Number(a.segments.some((s) => s.startsWith('{'))) - Number(b.segments.some((s) => s.startsWith('{'))));
  const refusals = new RateLimitedLog(d.log);

  return async (method, target, authorization) => {
    const url = parseTarget(target);
    if (!url) {
      // The target itself is not logged: it is whatever the client sent.
      refusals.warn('admin_bad_target', { method, targetLength: target.length }, 'admin: bad request target');
      return { status: 400, body: { error: 'bad request target', expected: 'origin form, e.g. /healthz' }, close: true };
    }
    const path = url.pathname;
    const found = match(compiled, path);
    if (found === 'bad-escape') return { status: 400, body: { error: 'a path segment is not valid percent-encoded UTF-8' } };
    if (!found) {
      refusals.warn('admin_not_found', { method, path }, 'admin: unknown path');
      return { status: 404, body: { error: 'not found', paths } };
    }
    const { route, params } = found;
    const allowed = route.method === 'GET' ? ['GET', 'HEAD'] : [route.method];
    if (!allowed.includes(method)) {
      refusals.warn('admin_method', { method, path }, 'admin: method not allowed');
      return { status: 405, body: { error: 'method not allowed', allow: allowed }, headers: { allow: allowed.join(', ') } };
    }
    if (route.mutates) {
      if (!d.token) return { status: 403, body: { error: 'admin.token_file is not set: calls that change something are off' } };
      if (!bearerMatches(authorization, d.token)) {
        d.counters.add('admin_unauthorized');
        refusals.warn('admin_unauthorized', { method, path }, 'admin: a call that changes something without the right bearer token');
        return { status: 401, body: { error: 'a bearer token is required (Authorization: Bearer <admin.token_file>)' }, headers: { 'www-authenticate': 'Bearer realm="sluice"' } };
      }
    }
    try {
      return await route.handler(url, params);
    } catch (err) {
      // Path and method only: never the query, headers or body (an admin token will travel in headers).
      const e = err instanceof Error ? err : new Error(String(err));
      d.log.error({ method, path, err: e.message, stack: e.stack }, 'admin request failed');
      return { status: 500, body: { error: 'internal error' } };
    }
  };
}
