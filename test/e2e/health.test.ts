// End to end: active MQTT health checks with real Mosquitto brokers. A broker whose port accepts but
// never speaks MQTT is marked down; a killed broker stops getting new clients within fall x interval and
// gets them again after it returns; with no broker up, clients are refused at once (CONNACK 0x03 / 0x88).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server, type Socket } from 'node:net';
import { restartMosquitto, startMosquittos, stopProcess, type MosquittoCluster } from '../helpers/mosquitto.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { connackCode, connectBytes, connectClient, rawExchange } from '../helpers/mqtt.ts';
import { listedClient } from '../helpers/clients.ts';
import { stats } from '../helpers/stats.ts';
import { freePort } from '../helpers/ports.ts';

type BrokerView = { name: string; healthy: boolean; health?: { state: string; failures: number; last?: { reason?: string } } };

const intervalMs = 200;
const timeoutMs = 150;
const fall = 2;
let cluster: MosquittoCluster;
let silent: Server;
const silentSockets = new Set<Socket>();
let sluice: SluiceProcess;

test.before(async () => {
  cluster = await startMosquittos(2);
  // Accepts TCP and never answers: a hung broker process, or the wrong service on the port.
  silent = createServer((s) => { silentSockets.add(s); s.on('error', () => {}); s.on('close', () => silentSockets.delete(s)); });
  const silentPort = await freePort();
  await new Promise<void>((resolve) => silent.listen(silentPort, '127.0.0.1', resolve));
  sluice = await startSluice({
    workers: 2,
    brokers: [...cluster.brokers.map((b) => ({ name: b.name, address: b.address })), { name: 'silent', address: `127.0.0.1:${silentPort}` }],
    balance: { strategy: 'round-robin' },
    health: { mqtt: { interval: `${intervalMs}ms`, timeout: `${timeoutMs}ms`, rise: 2, fall } },
    limits: { broker_connect_timeout: '3s' },
    log: { level: 'info' },
  });
});

test.after(async () => {
  await sluice?.stop();
  for (const s of silentSockets) s.destroy();
  silent?.close();
  await cluster?.stop();
});

async function brokers(): Promise<BrokerView[]> {
  return (await sluice.admin<BrokerView[]>('/api/brokers')).body;
}

/** Polls /api/brokers until `name` is in `state`; returns how long that took. */
async function waitForState(name: string, state: 'up' | 'down', withinMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    const b = (await brokers()).find((x) => x.name === name)!;
    if (b.health?.state === state && b.healthy === (state === 'up')) return Date.now() - start;
    if (Date.now() - start > withinMs) throw new Error(`${name} not ${state} within ${withinMs}ms: ${JSON.stringify(b)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Connects `n` new clients and returns the broker each was placed on. */
async function placeClients(prefix: string, n: number): Promise<string[]> {
  const placed: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-${i}`;
    const c = await connectClient(sluice.port, { clientId: id, reconnectPeriod: 0, connectTimeout: 2000 });
    placed.push((await listedClient(sluice, id)).broker);
    await c.endAsync();
  }
  return placed;
}

test('a broker that accepts TCP but never answers MQTT is marked down; no client is placed on it', async () => {
  await waitForState('silent', 'down', fall * (intervalMs + timeoutMs) + 2 * intervalMs + 1000);
  const s = (await brokers()).find((x) => x.name === 'silent')!;
  assert.is(s.health?.last?.reason, 'timeout');
  const placed = await placeClients('hc-a', 8);
  assert.not.ok(placed.includes('silent'), `placed on ${placed.join(',')}`);
  assert.equal(new Set(placed), new Set(['m1', 'm2']), 'round-robin over the two live brokers');
  assert.match(sluice.output(), /broker marked down: no new clients are placed on it/);
});

test('a killed broker stops getting new clients within fall x interval, and gets them again after it returns', async () => {
  const m1 = cluster.brokers[0];
  await stopProcess(m1.process);
  // fall probes, each at most the timeout, one interval apart, plus the interval the kill fell into.
  const tookMs = await waitForState('m1', 'down', 5000);
  assert.ok(tookMs <= fall * (intervalMs + timeoutMs) + intervalMs + 700, `m1 marked down after ${tookMs}ms`);
  const during = await placeClients('hc-b', 6);
  assert.equal(new Set(during), new Set(['m2']), `placed on ${during.join(',')}`);
  const before = await stats(sluice);
  await restartMosquitto(m1);
  await waitForState('m1', 'up', 5000);
  const after = await placeClients('hc-c', 6);
  assert.ok(after.includes('m1'), `m1 is back in the rotation: ${after.join(',')}`);
  const s = await stats(sluice);
  assert.is(s.counters.broker_marked_up - before.counters.broker_marked_up, 1);
  assert.ok(s.counters.broker_marked_down >= 2, 'silent and m1 were marked down');
});

test('no broker up: CONNACK 0x03 (3.1.1) and 0x88 (5.0) at once, not after a connect timeout', async () => {
  for (const b of cluster.brokers) await stopProcess(b.process);
  await Promise.all(['m1', 'm2'].map((n) => waitForState(n, 'down', 5000)));
  const before = await stats(sluice);
  const v4 = await rawExchange(sluice.port, [connectBytes({ clientId: 'nobody-home', protocolVersion: 4 })], { waitMs: 2000 });
  const v5 = await rawExchange(sluice.port, [connectBytes({ clientId: 'nobody-home-5', protocolVersion: 5 })], { waitMs: 2000 });
  assert.is(connackCode(v4.data, 4), 0x03);
  assert.is(connackCode(v5.data, 5), 0x88);
  assert.ok(v4.closed && v5.closed, 'closed after the CONNACK');
  assert.ok(v4.elapsedMs < 1000 && v5.elapsedMs < 1000, `answered in ${v4.elapsedMs}ms / ${v5.elapsedMs}ms (broker_connect_timeout is 3s)`);
  const s = await stats(sluice);
  assert.is(s.counters.refused_no_broker - before.counters.refused_no_broker, 2);
  assert.is(s.counters.broker_connect_failures - before.counters.broker_connect_failures, 0, 'no connect was even tried');
});

test.run();
