// End to end: opt-in rebalance. 90 MQTT.js clients (reconnecting on their own, as devices do) sit on two
// brokers; a reload adds a third. With balance.rebalance_rate, the clients homed on the new broker (where
// consistent hashing places them) are re-pinned to it and closed at the set rate; they reconnect to it,
// and the rebalance ends near its third. No client is lost.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { MqttClient } from 'mqtt';
import { startMosquittos, type MosquittoCluster } from '../helpers/mosquitto.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { connectClient } from '../helpers/mqtt.ts';
import { stats } from '../helpers/stats.ts';

type BrokerView = { name: string; liveConnections: number };

let cluster: MosquittoCluster;
let sluice: SluiceProcess;
const clients: MqttClient[] = [];
const rate = 20;
const base = { workers: 2, balance: { strategy: 'sticky', rebalance_rate: rate }, log: { level: 'info' } };
const set = (...names: string[]) => names.map((n) => ({ name: n, address: cluster.brokers[Number(n.slice(1)) - 1].address }));

test.before(async () => {
  cluster = await startMosquittos(3);
  sluice = await startSluice({ ...base, brokers: set('m1', 'm2') });
});

test.after(async () => {
  for (const c of clients) c.end(true);
  await sluice?.stop();
  await cluster?.stop();
});

const live = async () => new Map((await sluice.admin<BrokerView[]>('/api/brokers')).body.map((b) => [b.name, b.liveConnections]));

async function waitForOutput(what: RegExp, from: number, timeoutMs: number): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline;) {
    if (what.test(sluice.output().slice(from))) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no ${what} within ${timeoutMs} ms:\n${sluice.output().slice(from)}`);
}

test('a broker added by a reload gets the clients homed on it, at the set rate; none is lost', async () => {
  for (let i = 0; i < 90; i += 15) {
    clients.push(...await Promise.all(Array.from({ length: 15 }, (_, k) => connectClient(sluice.port, { clientId: `dev-${i + k}`, reconnectPeriod: 100 }))));
  }
  const before = await live();
  assert.is((before.get('m1') ?? 0) + (before.get('m2') ?? 0), 90);

  const from = sluice.output().length;
  sluice.rewrite({ ...base, brokers: set('m1', 'm2', 'm3') });
  sluice.process.kill('SIGHUP');
  await waitForOutput(/rebalance started/, from, 5000);
  const startedAt = Date.now();
  await new Promise((r) => setTimeout(r, 400));
  const early = (await stats(sluice)).counters.connections_rebalanced ?? 0;
  const elapsedSec = (Date.now() - startedAt) / 1000;
  // At most `rate` a second (plus a tick's rounding per worker), counted from a start seen up to 20 ms late.
  assert.ok(early <= rate * (elapsedSec + 0.25) + 2, `${early} moved in ${elapsedSec.toFixed(2)} s at ${rate}/s`);

  await waitForOutput(/rebalance ended/, from, 15_000);
  await new Promise((r) => setTimeout(r, 500)); // the last ones reconnect
  const moved = (await stats(sluice)).counters.connections_rebalanced;
  const after = await live();
  assert.ok(moved >= 15 && moved <= 45, `about a third of 90 moved: ${moved}`);
  assert.is(after.get('m3'), moved, 'every moved client reconnected to the new broker');
  assert.is((after.get('m1') ?? 0) + (after.get('m2') ?? 0) + (after.get('m3') ?? 0), 90, 'none lost');
  assert.ok(clients.every((c) => c.connected), 'every client is connected');
});

test.run();
