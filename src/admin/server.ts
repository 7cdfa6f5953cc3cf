// Admin HTTP endpoint (primary thread): /healthz, and JSON views of brokers, clients and counters.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/resolved.ts';
import type { BrokerTable } from '../brokers/broker-table.ts';
import type { StickyTable } from '../sticky/table.ts';
import type { Counters } from '../metrics/counters.ts';
import type { Admission } from '../limits/admission.ts';
import type { Supervisor } from '../primary/supervisor.ts';

export type AdminDeps = {
  config: ResolvedConfig;
  supervisor: Supervisor;
  brokerTable: BrokerTable;
  stickyTable: StickyTable;
  counters: Counters;
  admission: Admission;
  log: Logger;
};

const maxClientsListed = 10_000;

export async function startAdmin(deps: AdminDeps): Promise<Server> {
  const bind = deps.config.admin!.bind;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    // Test hook, off unless SLUICE_TEST_HOOKS=1: never reachable in a normal run.
    if (req.method === 'POST' && url.pathname === '/debug/crash-worker' && process.env.SLUICE_TEST_HOOKS === '1') {
      const ok = deps.supervisor.crashWorker(Number(url.searchParams.get('id')));
      return send(res, ok ? 202 : 404, { ok });
    }
    if (req.method !== 'GET') return send(res, 405, { error: 'only GET' });
    route(url, deps).then(([status, body]) => send(res, status, body), (err: Error) => {
      deps.log.error({ err: err.message, path: url.pathname }, 'admin request failed');
      send(res, 500, { error: 'internal error' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(bind.port, bind.host, () => { server.off('error', reject); resolve(); });
  });
  deps.log.info({ address: bind.address }, 'admin listening');
  return server;
}

async function route(url: URL, d: AdminDeps): Promise<[number, unknown]> {
  switch (url.pathname) {
    case '/healthz': {
      const workers = d.supervisor.status();
      const ok = d.supervisor.allListening();
      return [ok ? 200 : 503, { status: ok ? 'ok' : 'degraded', workers }];
    }
    case '/api/brokers':
      return [200, d.config.brokers.map((b, i) => ({
        name: b.name, address: b.address, weight: b.weight,
        healthy: d.brokerTable.isHealthy(i), draining: d.brokerTable.isDraining(i),
        liveConnections: d.brokerTable.liveConnections(i),
      }))];
    case '/api/clients': {
      const limit = Math.min(maxClientsListed, Number(url.searchParams.get('limit') ?? 1000) || 1000);
      const clientId = url.searchParams.get('client_id') ?? undefined;
      return [200, await d.supervisor.listClients({ clientId, limit })];
    }
    case '/api/stats':
      return [200, {
        counters: d.counters.snapshot(),
        openClients: d.admission.openClients(),
        pendingClients: d.admission.pendingClients(),
        // The data path the listening workers run: 'js', 'splice', or 'splice+js' if one fell back.
        datapath: [...new Set(d.supervisor.status().map((w) => w.datapath).filter(Boolean))].join('+') || undefined,
        sticky: { size: d.stickyTable.size(), capacity: d.stickyTable.capacity },
      }];
    default:
      return [404, { error: 'not found', paths: ['/healthz', '/api/brokers', '/api/clients?client_id=&limit=', '/api/stats'] }];
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
