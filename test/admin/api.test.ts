// End to end: the admin API's calls that change something (drain, undrain, reload) with and without the
// bearer token; readiness; where a client is placed and why; the OpenAPI document. The token never
// appears in the log.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { restartMosquitto, startMosquittos, stopProcess, type MosquittoCluster } from '../helpers/mosquitto.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { connectClient } from '../helpers/mqtt.ts';
import { listedClient } from '../helpers/clients.ts';
import { stats } from '../helpers/stats.ts';

const token = 'test-admin-token-0123456789abcdef';
let dir: string;
let cluster: MosquittoCluster;
let sluice: SluiceProcess;
let base: Record<string, unknown>;

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-admin-'));
  writeFileSync(join(dir, 'token'), `${token}\n`);
  cluster = await startMosquittos(2);
  base = {
    workers: 2,
    brokers: cluster.brokers.map((b) => ({ name: b.name, address: b.address })),
    balance: { strategy: 'sticky' },
    health: { mqtt: { interval: '200ms', timeout: '500ms', rise: 1, fall: 1 } },
    log: { level: 'info' },
  };
  sluice = await startSluice(base, { adminTokenFile: join(dir, 'token') });
});

test.after(async () => {
  await sluice?.stop();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function call(path: string, method = 'POST', bearer?: string): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`http://127.0.0.1:${sluice.adminPort}${path}`, { method, headers: bearer === undefined ? {} : { authorization: `Bearer ${bearer}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

type BrokerView = { name: string; draining: boolean; healthy: boolean };
const brokerView = async (name: string) => (await sluice.admin<BrokerView[]>('/api/brokers')).body.find((b) => b.name === name)!;

test('401 without the token or with a wrong one; drain and undrain with it', async () => {
  const none = await call('/api/brokers/m1/drain');
  assert.is(none.status, 401);
  assert.is(none.headers.get('www-authenticate'), 'Bearer realm="sluice"');
  assert.is((await call('/api/brokers/m1/drain', 'POST', 'wrong-token-wrong-token-wrong')).status, 401);
  assert.is((await stats(sluice)).counters.admin_unauthorized, 2);
  assert.is((await brokerView('m1')).draining, false, 'nothing changed');

  const drained = await call('/api/brokers/m1/drain', 'POST', token);
  assert.is(drained.status, 200);
  assert.equal(drained.body, { broker: 'm1', draining: true });
  assert.is((await brokerView('m1')).draining, true);
  for (let i = 0; i < 6; i++) {
    const c = await connectClient(sluice.port, { clientId: `while-drained-${i}` });
    assert.is((await listedClient(sluice, `while-drained-${i}`)).broker, 'm2');
    await c.endAsync();
  }
  assert.is((await call('/api/brokers/nope/drain', 'POST', token)).status, 404);
  assert.is((await call('/api/brokers/m1/drain?close_rate=-1', 'POST', token)).status, 400);
  assert.is((await call('/api/brokers/m1/undrain', 'POST', token)).status, 200);
  assert.is((await brokerView('m1')).draining, false);
  assert.not.match(sluice.output(), new RegExp(token), 'the token is never logged');
});

test("drain with close_rate closes the broker's clients at that rate", async () => {
  const clients = [];
  for (let i = 0; i < 20; i++) clients.push(await connectClient(sluice.port, { clientId: `rate-${i}` }));
  const onM1 = (await Promise.all(clients.map((_, i) => listedClient(sluice, `rate-${i}`)))).filter((c) => c.broker === 'm1').length;
  assert.ok(onM1 > 0, 'some clients on m1');
  const before = (await stats(sluice)).counters.connections_drained ?? 0;
  assert.is((await call('/api/brokers/m1/drain?close_rate=50', 'POST', token)).status, 200);
  for (let i = 0; i < 50 && ((await stats(sluice)).counters.connections_drained ?? 0) - before < onM1; i++) await new Promise((r) => setTimeout(r, 100));
  assert.is(((await stats(sluice)).counters.connections_drained ?? 0) - before, onM1);
  for (const c of clients) c.end(true);
  assert.is((await call('/api/brokers/m1/undrain', 'POST', token)).status, 200);
});

test('GET /api/clients/{id}: its pin, where its next connect goes and why, its connections', async () => {
  const c = await connectClient(sluice.port, { clientId: 'who/am i' });
  const placed = (await listedClient(sluice, 'who/am i')).broker;
  const view = (await sluice.admin<{ key: string; pin: { broker: string; valid: boolean }; next: { broker: string; why: string }; connections: unknown[] }>(`/api/clients/${encodeURIComponent('who/am i')}`)).body;
  assert.is(view.key, 'c:who/am i');
  assert.equal([view.pin.broker, view.pin.valid], [placed, true]);
  assert.equal(view.next, { broker: placed, why: 'pin' });
  assert.is(view.connections.length, 1);
  await c.endAsync();
  const unknown = (await sluice.admin<{ pin: unknown; next: { why: string } }>('/api/clients/never-seen')).body;
  assert.is(unknown.pin, null);
  assert.is(unknown.next.why, 'hash');
  assert.is((await sluice.admin('/api/clients/%E0%A4%A')).status, 400);
});

test('POST /api/reload: applied keys, or the refusal and why (409)', async () => {
  sluice.rewrite({ ...base, brokers: cluster.brokers.map((b) => ({ name: b.name, address: b.address, weight: 2 })) });
  assert.is((await call('/api/reload')).status, 401);
  const ok = await call('/api/reload', 'POST', token);
  assert.is(ok.status, 200);
  assert.equal([ok.body.ok, ok.body.applied], [true, ['brokers']]);
  sluice.rewrite({ ...base, brokers: [{ name: 'x', address: 'no-port' }] });
  const refused = await call('/api/reload', 'POST', token);
  assert.is(refused.status, 409);
  assert.match(String(refused.body.error), /not host:port/);
});

test('GET /openapi.json describes the API', async () => {
  const doc = (await sluice.admin<{ openapi: string; paths: Record<string, unknown> }>('/openapi.json')).body;
  assert.is(doc.openapi, '3.1.0');
  assert.ok(doc.paths['/api/brokers/{name}/drain']);
});

test('/readyz: 503 when no broker is up (both killed), 200 again when they are back; /healthz stays 200', async () => {
  assert.is((await sluice.admin('/readyz')).status, 200);
  for (const b of cluster.brokers) await stopProcess(b.process);
  let status = 0;
  for (let i = 0; i < 50 && status !== 503; i++) { await new Promise((r) => setTimeout(r, 100)); status = (await sluice.admin('/readyz')).status; }
  assert.is(status, 503);
  assert.is((await sluice.admin('/healthz')).status, 200);
  for (const b of cluster.brokers) await restartMosquitto(b);
  for (let i = 0; i < 50 && status !== 200; i++) { await new Promise((r) => setTimeout(r, 100)); status = (await sluice.admin('/readyz')).status; }
  assert.is(status, 200);
});

test.run();
