// End to end: SIGHUP reloads the broker set while 200 MQTT.js clients stream QoS 1 messages: no connection
// drops, no message is lost, new clients use the new set, a removed broker keeps its clients (listed as
// removed) and sticky pins survive; a bad config is refused whole; keys that need a restart are named.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { MqttClient } from 'mqtt';
import { startMosquittos, type MosquittoCluster } from '../helpers/mosquitto.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { connectClient } from '../helpers/mqtt.ts';
import { listedClient } from '../helpers/clients.ts';
import { stats } from '../helpers/stats.ts';
import type { ClientRecord } from '../../src/worker-messages.ts';

type BrokerView = { name: string; removed: boolean; draining: boolean; liveConnections: number };

let cluster: MosquittoCluster;
let sluice: SluiceProcess;
const base = { workers: 2, balance: { strategy: 'sticky' }, log: { level: 'info' } };
const set = (...names: string[]) => names.map((n) => ({ name: n, address: cluster.brokers[Number(n.slice(1)) - 1].address }));

test.before(async () => {
  cluster = await startMosquittos(3);
  sluice = await startSluice({ ...base, brokers: set('m1', 'm2') });
});

test.after(async () => {
  await sluice?.stop();
  await cluster?.stop();
});

async function reloaded(before: number, what: RegExp): Promise<void> {
  sluice.process.kill('SIGHUP');
  for (let i = 0; i < 200; i++) {
    if (what.test(sluice.output().slice(before))) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no ${what} after SIGHUP:\n${sluice.output().slice(before)}`);
}

async function brokers(): Promise<BrokerView[]> {
  return (await sluice.admin<BrokerView[]>('/api/brokers')).body;
}

/** A client that publishes QoS 1 to its own topic every periodMs and counts what comes back. */
type Streamer = { id: string; client: MqttClient; sent: number; got: Set<number>; dropped: boolean; stop(): void };
async function streamer(id: string, periodMs: number): Promise<Streamer> {
  const client = await connectClient(sluice.port, { clientId: id, clean: true });
  const s: Streamer = { id, client, sent: 0, got: new Set(), dropped: false, stop: () => clearInterval(timer) };
  client.on('close', () => { s.dropped = true; });
  client.on('message', (_t, payload) => s.got.add(Number(payload.toString())));
  await client.subscribeAsync(`reload/${id}`, { qos: 1 });
  const timer = setInterval(() => { client.publish(`reload/${id}`, String(s.sent++), { qos: 1 }); }, periodMs);
  return s;
}

test('SIGHUP with a changed broker list while 200 clients stream QoS 1: none drops, nothing is lost, new clients use the new set', async () => {
  const streamers: Streamer[] = [];
  for (let i = 0; i < 200; i += 20) streamers.push(...await Promise.all(Array.from({ length: 20 }, (_, k) => streamer(`s-${i + k}`, 100))));
  const { body } = await sluice.admin<{ clients: ClientRecord[] }>('/api/clients?limit=1000');
  const placedBefore = new Map(body.clients.map((c) => [c.clientId, c.broker]));
  const onM1 = streamers.filter((s) => placedBefore.get(s.id) === 'm1').length;
  assert.ok(onM1 > 0 && onM1 < 200, `${onM1} of 200 streamers on m1`);
  await new Promise((r) => setTimeout(r, 500));

  // m1 leaves, m3 joins.
  sluice.rewrite({ ...base, brokers: set('m2', 'm3') });
  await reloaded(sluice.output().length, /config reloaded/);
  await new Promise((r) => setTimeout(r, 1000));
  for (const s of streamers) s.stop();
  // Every QoS 1 message comes back once the in-flight ones are acknowledged.
  for (let i = 0; i < 100 && streamers.some((s) => s.got.size < s.sent); i++) await new Promise((r) => setTimeout(r, 50));
  const short = streamers.filter((s) => s.got.size < s.sent).map((s) => `${s.id}: ${s.got.size}/${s.sent}`);
  assert.equal(short, [], 'no message lost');
  assert.equal(streamers.filter((s) => s.dropped).map((s) => s.id), [], 'no connection dropped');
  assert.ok(streamers.every((s) => s.sent >= 10), 'every client streamed through the reload');

  const view = await brokers();
  const m1 = view.find((b) => b.name === 'm1')!;
  assert.equal([m1.removed, m1.draining, m1.liveConnections], [true, true, onM1], 'm1 is removed but keeps its clients');
  assert.ok(view.some((b) => b.name === 'm3' && !b.removed));
  const fresh: string[] = [];
  for (let i = 0; i < 10; i++) {
    const c = await connectClient(sluice.port, { clientId: `fresh-${i}` });
    fresh.push((await listedClient(sluice, `fresh-${i}`)).broker);
    await c.endAsync();
  }
  assert.not.ok(fresh.includes('m1'), `new clients on ${fresh.join(',')}`);
  assert.ok(fresh.includes('m3'), `m3 takes new clients: ${fresh.join(',')}`);

  // A client pinned to m2 before the reload finds m2 again.
  const pinned = streamers.find((s) => placedBefore.get(s.id) === 'm2')!;
  await Promise.all(streamers.map((s) => s.client.endAsync()));
  const again = await connectClient(sluice.port, { clientId: pinned.id });
  assert.is((await listedClient(sluice, pinned.id)).broker, 'm2', 'the sticky pin survived the reload');
  await again.endAsync();
  for (let i = 0; i < 100 && (await brokers()).find((b) => b.name === 'm1')!.liveConnections > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.is((await brokers()).find((b) => b.name === 'm1')!.liveConnections, 0);
});

test('a bad config is refused whole: the running broker set stays, the log says why, the failure is counted', async () => {
  const before = await stats(sluice);
  const setBefore = await brokers();
  sluice.rewrite({ ...base, brokers: [...set('m1'), { name: 'bad', address: 'no-port-here' }] });
  await reloaded(sluice.output().length, /config reload refused; the running config stays/);
  assert.match(sluice.output(), /brokers\[1\]\.address: not host:port/);
  assert.equal((await brokers()).map((b) => [b.name, b.removed]), setBefore.map((b) => [b.name, b.removed]));
  const after = await stats(sluice);
  assert.is(after.counters.config_reload_failures - before.counters.config_reload_failures, 1);
  const c = await connectClient(sluice.port, { clientId: 'after-bad-reload' });
  assert.not.equal((await listedClient(sluice, 'after-bad-reload')).broker, 'm1');
  await c.endAsync();
});

test('keys that apply only at a restart are named in the log and keep their running values', async () => {
  sluice.rewrite({ ...base, brokers: set('m2', 'm3'), limits: { connect_timeout: '3s' } });
  const from = sluice.output().length;
  await reloaded(from, /apply only at a restart/);
  assert.match(sluice.output().slice(from), /"keys":\["limits"\]/);
});

test('log level and limits.idle apply live: debug lines appear, and a fixed idle limit closes a silent keep-alive-0 client', async () => {
  sluice.rewrite({ ...base, brokers: set('m2', 'm3'), log: { level: 'debug' }, limits: { idle: '1s' } });
  const from = sluice.output().length;
  await reloaded(from, /config reloaded/);
  assert.match(sluice.output().slice(from), /"applied":\["log","limits\.idle"\]/);
  const silent = await connectClient(sluice.port, { clientId: 'silent-after-reload', keepalive: 0 });
  let closed = false;
  silent.on('close', () => { closed = true; });
  for (let i = 0; i < 80 && !closed; i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(closed, 'closed by the 1 s idle limit set by the reload');
  assert.match(sluice.output().slice(from), /"msg":"client placed"/, 'debug lines after the reload');
});

test.run();
