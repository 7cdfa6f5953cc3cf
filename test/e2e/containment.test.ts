// End to end: one client, one silent socket or one dead worker never costs more than itself.
// A throw in a TLS or WebSocket client's setup closes that socket; a placement that throws refuses that one client; silent sockets at max_pending never lock real clients
// out; a worker killed under load gives back exactly what it held; a second Sluice on a served address
// refuses to start. Real Mosquitto behind, MQTT.js and raw sockets in front.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { startMosquittos, type MosquittoCluster } from '../helpers/mosquitto.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { connackCode, connectBytes, connectClient, rawExchange } from '../helpers/mqtt.ts';
import { stats, unaccounted, waitForStats } from '../helpers/stats.ts';
import { kThrowingClientId } from '../../workers/placement.ts';
import { kThrowingSetupName } from '../../workers/setup-guard.ts';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import mqtt from 'mqtt';
import { WebSocket } from 'ws';
import { makeTestCerts } from '../helpers/certs.ts';
import { freePort } from '../helpers/ports.ts';

let cluster: MosquittoCluster;
const started: SluiceProcess[] = [];
const launcher = new URL('../../scripts/sluice.mjs', import.meta.url).pathname;

test.before(async () => { cluster = await startMosquittos(1); });
test.after(async () => {
  for (const s of started) await s.stop();
  await cluster?.stop();
});

async function sluiceWith(config: Record<string, unknown>, env: Record<string, string> = {}): Promise<SluiceProcess> {
  const s = await startSluice({ brokers: [{ name: 'm', address: cluster.brokers[0].address }], log: { level: 'warn' }, ...config }, { env });
  started.push(s);
  return s;
}

/** A socket that connects and never sends a byte; resolves once connected. */
function silentSocket(port: number): Promise<Socket & { closedAt?: number }> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' }) as Socket & { closedAt?: number };
    s.on('error', () => {});
    s.on('close', () => { s.closedAt = Date.now(); });
    s.on('connect', () => resolve(s));
  });
}

test('a throw while setting up a TLS or WebSocket client closes that one socket, is logged and counted; the worker goes on', async () => {
  const certs = makeTestCerts();
  try {
    const tlsPort = await freePort();
    const wsPort = await freePort();
    const s = await sluiceWith({
      workers: 1,
      listeners: [
        { bind: `127.0.0.1:${tlsPort}`, protocol: 'mqtts', tls: { cert: certs.server.cert, key: certs.server.key } },
        { bind: `127.0.0.1:${wsPort}`, protocol: 'ws' },
      ],
    }, { SLUICE_TEST_HOOKS: '1' });
    const tlsClosed = await new Promise<boolean>((resolve) => {
      const c = tlsConnect({ host: '127.0.0.1', port: tlsPort, servername: kThrowingSetupName, ca: readFileSync(certs.ca), checkServerIdentity: () => undefined });
      c.on('error', () => {});
      c.on('data', () => {});
      const t = setTimeout(() => { c.destroy(); resolve(false); }, 5000);
      c.once('close', () => { clearTimeout(t); resolve(true); });
    });
    assert.ok(tlsClosed, 'the TLS client was closed');
    const wsRefused = await new Promise<boolean>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${wsPort}/${kThrowingSetupName}`, ['mqtt']);
      ws.once('open', () => { ws.terminate(); resolve(false); });
      ws.once('error', () => resolve(true));
    });
    assert.ok(wsRefused, 'the upgrade did not go through');
    const after = await waitForStats(s, (x) => x.counters.listener_internal_errors === 2, 'both counted');
    assert.is(after.counters.connections_accepted, 0);
    const health = await s.admin<{ workers: { restarts: number }[] }>('/healthz');
    assert.is(health.body.workers[0].restarts, 0, 'the worker did not die');
    assert.match(s.output(), /internal error setting up a connection; closed/);
    const ok = await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, { clientId: 'after-setup-throw', ca: readFileSync(certs.ca), reconnectPeriod: 0 });
    assert.ok(ok.connected);
    await ok.endAsync();
  } finally {
    certs.remove();
  }
});

test('a placement that throws refuses that one client (0x80 / 0x03), is logged and counted; the worker goes on', async () => {
  const s = await sluiceWith({ workers: 1 }, { SLUICE_TEST_HOOKS: '1' });
  const r5 = await rawExchange(s.port, [connectBytes({ clientId: kThrowingClientId, protocolVersion: 5 })]);
  assert.is(connackCode(r5.data, 5), 0x80);
  assert.ok(r5.closed);
  const r4 = await rawExchange(s.port, [connectBytes({ clientId: kThrowingClientId, protocolVersion: 4 })]);
  assert.is(connackCode(r4.data, 4), 0x03);
  const after = await stats(s);
  assert.is(after.counters.refused_internal_error, 2);
  const health = await s.admin<{ workers: { restarts: number }[] }>('/healthz');
  assert.is(health.status, 200);
  assert.is(health.body.workers[0].restarts, 0, 'the worker did not die');
  assert.match(s.output(), /internal error placing a client/);
  const c = await connectClient(s.port, { clientId: 'after-the-throw' });
  assert.ok(c.connected);
  await c.endAsync();
});

test('silent sockets at max_pending never lock real clients out; established clients keep their room', async () => {
  const s = await sluiceWith({ workers: 2, limits: { max_connections: 50, max_pending: 40, connect_timeout: '20s' } });
  const silent: (Socket & { closedAt?: number })[] = [];
  for (let i = 0; i < 200; i++) silent.push(await silentSocket(s.port));
  // The old failure: silent sockets counted toward max_connections and every real client got 0x97.
  const real: MqttClient[] = [];
  for (let i = 0; i < 30; i++) real.push(await connectClient(s.port, { clientId: `real-${i}`, protocolVersion: 5 }));
  assert.is(real.filter((c) => c.connected).length, 30);
  // A second flood: established clients are never evicted, and new real clients still get in.
  for (let i = 0; i < 200; i++) silent.push(await silentSocket(s.port));
  for (let i = 30; i < 50; i++) real.push(await connectClient(s.port, { clientId: `real-${i}`, protocolVersion: 5 }));
  assert.is(real.filter((c) => c.connected).length, 50, 'all 50 real clients connected and still connected');
  // max_connections is theirs: the 51st real client is over it.
  const over = await rawExchange(s.port, [connectBytes({ clientId: 'real-51', protocolVersion: 5 })]);
  assert.is(connackCode(over.data, 5), 0x97);
  const st = await waitForStats(s, (x) => x.pendingClients <= 40, 'pending within max_pending');
  assert.is(st.openClients, 50);
  assert.ok(st.counters.pending_evicted >= 400 - 40 - 2, `evicted ${st.counters.pending_evicted}`);
  assert.ok(silent.filter((x) => x.closedAt !== undefined).length >= 400 - 42, 'evicted silent sockets were closed');
  for (const c of real) await c.endAsync();
  for (const x of silent) x.destroy();
  await waitForStats(s, (x) => x.openClients === 0 && x.pendingClients === 0 && unaccounted(x) === 0, 'all over, every connection accounted for');
});

test('a worker killed under load: its clients are released exactly, counts come back, new clients are admitted', async () => {
  const s = await sluiceWith({ workers: 2, limits: { max_connections: 40, connect_timeout: '30s' } }, { SLUICE_TEST_HOOKS: '1' });
  const held: MqttClient[] = [];
  for (let i = 0; i < 30; i++) held.push(await connectClient(s.port, { clientId: `held-${i}` }));
  const silent: (Socket & { closedAt?: number })[] = [];
  for (let i = 0; i < 10; i++) silent.push(await silentSocket(s.port));
  const listed = (await s.admin<{ clients: { clientId: string; worker: number }[] }>('/api/clients')).body.clients;
  const onWorker1 = listed.filter((c) => c.worker === 1).length;
  assert.ok(onWorker1 > 0 && onWorker1 < 30, `both workers hold clients (${onWorker1} on worker 1)`);
  const closedHeld = new Set<string>();
  held.forEach((c, i) => c.on('close', () => closedHeld.add(`held-${i}`)));

  // Load while the worker dies: clients connecting and leaving, up to the 10 free slots.
  let churnStop = false;
  const churn = (async () => {
    for (let i = 0; i < 400 && !churnStop; i++) {
      try {
        const c = await connectClient(s.port, { clientId: `churn-${i}`, connectTimeout: 2000 });
        await c.endAsync();
      } catch { /* refused or cut by the dying worker: part of the load */ }
    }
  })();
  await new Promise((r) => setTimeout(r, 200));
  assert.is((await s.admin('/debug/crash-worker?id=1', { method: 'POST' })).status, 202);
  await waitForStats(s, () => true, 'admin alive');
  for (let i = 0; i < 100; i++) {
    const h = await s.admin<{ workers: { id: number; restarts: number }[] }>('/healthz');
    if (h.status === 200 && h.body.workers.find((w) => w.id === 1)!.restarts === 1) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  churnStop = true;
  await churn;
  await new Promise((r) => setTimeout(r, 300)); // closes of the dead worker's clients reach them

  const survivors = held.filter((_, i) => !closedHeld.has(`held-${i}`)).length;
  const silentLeft = silent.filter((x) => x.closedAt === undefined).length;
  assert.is(survivors, 30 - onWorker1, 'exactly the dead worker\'s clients were cut');
  const st = await waitForStats(s, (x) => x.openClients === survivors && x.pendingClients === silentLeft && unaccounted(x) === 0, 'counts back to exact');
  const brokers = (await s.admin<{ liveConnections: number }[]>('/api/brokers')).body;
  assert.is(brokers[0].liveConnections, survivors, 'the broker\'s live count is exact again');
  assert.ok(st.counters.connections_dropped_worker_exit >= onWorker1, `dropped ${st.counters.connections_dropped_worker_exit}`);
  // Every freed slot can be used again, and not one more.
  const fresh: MqttClient[] = [];
  for (let i = 0; i < 40 - survivors; i++) fresh.push(await connectClient(s.port, { clientId: `fresh-${i}` }));
  assert.is(fresh.filter((c) => c.connected).length, 40 - survivors);
  const over = await rawExchange(s.port, [connectBytes({ clientId: 'one-too-many', protocolVersion: 5 })]);
  assert.is(connackCode(over.data, 5), 0x97);
  for (const c of [...held, ...fresh]) c.end(true);
  for (const x of silent) x.destroy();
});

test('a second Sluice on an address another Sluice serves refuses to start: exit 1, the address and the pid named', async () => {
  const first = await sluiceWith({ workers: 2 });
  const dir = mkdtempSync(join(tmpdir(), 'sluice-second-'));
  const run = (bind: string) => {
    const file = join(dir, `second-${bind.replace(/\W/g, '_')}.yaml`);
    writeFileSync(file, `workers: 1\nlisteners: [{ bind: "${bind}" }]\nbrokers: [{ name: m, address: "${cluster.brokers[0].address}" }]\n`);
    return new Promise<{ status: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, [launcher, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => { out += d; });
      child.stderr.on('data', (d) => { out += d; });
      const timer = setTimeout(() => child.kill('SIGTERM'), 10_000);
      child.on('exit', (status) => { clearTimeout(timer); resolve({ status, out }); });
    });
  };
  const same = await run(`127.0.0.1:${first.port}`);
  assert.is(same.status, 1, same.out);
  assert.match(same.out, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port}: already served by another Sluice \\(pid ${first.process.pid}\\)`));
  const wildcard = await run(`:${first.port}`);
  assert.is(wildcard.status, 1, wildcard.out);
  assert.match(wildcard.out, new RegExp(`cannot listen on :${first.port}: EADDRINUSE`));
  // The first one never noticed.
  const c = await connectClient(first.port, { clientId: 'still-served' });
  assert.ok(c.connected);
  await c.endAsync();
  assert.is((await stats(first)).counters.connections_accepted, 1);
});

test.run();
