// The HTTP readiness check against a server on 127.0.0.1: 2xx passes; 503 (EMQX evacuating a node), no
// server and no answer fail with their reason; with it configured, a broker whose MQTT answers but whose
// readiness says no goes down.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { probeHttp } from '../../src/health/http-probe.ts';
import { HealthChecker } from '../../src/health/checker.ts';
import { BrokerTable } from '../../src/brokers/broker-table.ts';
import type { BrokerConfig } from '../../src/config/resolved.ts';
import { freePort } from '../helpers/ports.ts';

let status = 200;
let hang = false;
let server: Server;
let port = 0;
const paths: string[] = [];

test.before(async () => {
  server = createServer((req, res) => { paths.push(req.url ?? ''); if (!hang) res.writeHead(status).end('{}'); });
  port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
});

test.after(() => {
  server.closeAllConnections();
  server.close();
});

const opts = (p = port) => ({ scheme: 'http' as const, port: p, path: '/api/v5/load_rebalance/availability_check', timeoutMs: 200 });

test('2xx passes; 503 fails with the status; no server and no answer fail too', async () => {
  assert.is((await probeHttp('127.0.0.1', opts())).ok, true);
  assert.is(paths.at(-1), '/api/v5/load_rebalance/availability_check');
  status = 503;
  const r = await probeHttp('127.0.0.1', opts());
  assert.equal(r.ok ? r : [r.reason, r.detail], ['http-status', 'HTTP 503 from /api/v5/load_rebalance/availability_check']);
  const none = await probeHttp('127.0.0.1', opts(await freePort()));
  assert.equal(none.ok ? none : [none.reason, none.detail], ['http-failed', 'ECONNREFUSED']);
  hang = true;
  const slow = await probeHttp('127.0.0.1', opts());
  assert.equal(slow.ok ? slow : [slow.reason, slow.detail], ['http-failed', 'no HTTP answer within 200ms']);
  hang = false;
  status = 200;
});

test('with health.http, both must pass: MQTT fine and readiness 503 takes the broker down', async () => {
  const table = new BrokerTable(BrokerTable.allocate(4));
  const broker: BrokerConfig = { name: 'emqx1', host: '127.0.0.1', port: 1, address: '127.0.0.1:1', weight: 1, proxyProtocol: 'none', drain: false };
  const log = pino(new Writable({ write(_c, _e, done) { done(); } }));
  const cfg = { intervalMs: 20, timeoutMs: 200, rise: 1, fall: 2, clientIdPrefix: 'hc-', username: undefined, passwordFile: undefined, protocolVersion: 4 as const };
  const checker = new HealthChecker([broker], table, cfg, undefined, log, { add() {} }, async () => ({ ok: true, ms: 1 }), { scheme: 'http', port, path: '/ready' });
  checker.start();
  status = 503;
  for (let i = 0; i < 200 && table.isHealthy(0); i++) await new Promise((r) => setTimeout(r, 10));
  assert.is(table.isHealthy(0), false);
  assert.is(checker.health(0)?.last?.reason, 'http-status');
  status = 200;
  for (let i = 0; i < 200 && !table.isHealthy(0); i++) await new Promise((r) => setTimeout(r, 10));
  assert.is(table.isHealthy(0), true, 'back when readiness passes again');
  await checker.stop();
});

test.run();
