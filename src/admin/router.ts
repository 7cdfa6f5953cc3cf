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
};

/** What the server writes: a status, a JSON body, extra headers, and whether to close the connection. */
export type AdminReply = { status: number; body: unknown; headers?: Record<string, string>; close?: boolean };

type Handler = (url: URL) => AdminReply | Promise<AdminReply>;
type Route = { method: 'GET' | 'POST'; handler: Handler; usage?: string };

/** Routes a request: `method` and `target` are as Node read them from the request line. */
export type AdminRouter = (method: string, target: string) => Promise<AdminReply>;

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
    ['/healthz', { method: 'GET', handler: () => {
      const workers = d.supervisor.status();
      const healthy = d.supervisor.allListening();
      return { status: healthy ? 200 : 503, body: { status: healthy ? 'ok' : 'degraded', workers } };
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

export function createRouter(d: AdminDeps, opts: { testHooks: boolean }): AdminRouter {
  const routes = routeTable(d, opts.testHooks);
  const paths = [...routes].filter(([, r]) => r.method === 'GET').map(([path, r]) => r.usage ?? path);
  const refusals = new RateLimitedLog(d.log);

  return async (method, target) => {
    const url = parseTarget(target);
    if (!url) {
      // The target itself is not logged: it is whatever the client sent.
      refusals.warn('admin_bad_target', { method, targetLength: target.length }, 'admin: bad request target');
      return { status: 400, body: { error: 'bad request target', expected: 'origin form, e.g. /healthz' }, close: true };
    }
    const path = url.pathname;
    const route = routes.get(path);
    if (!route) {
      refusals.warn('admin_not_found', { method, path }, 'admin: unknown path');
      return { status: 404, body: { error: 'not found', paths } };
    }
    const allowed = route.method === 'GET' ? ['GET', 'HEAD'] : [route.method];
    if (!allowed.includes(method)) {
      refusals.warn('admin_method', { method, path }, 'admin: method not allowed');
      return { status: 405, body: { error: 'method not allowed', allow: allowed }, headers: { allow: allowed.join(', ') } };
    }
    try {
      return await route.handler(url);
    } catch (err) {
      // Path and method only: never the query, headers or body (an admin token will travel in headers).
      const e = err instanceof Error ? err : new Error(String(err));
      d.log.error({ method, path, err: e.message, stack: e.stack }, 'admin request failed');
      return { status: 500, body: { error: 'internal error' } };
    }
  };
}
