// End to end: SIGHUP adds, removes and changes listeners while clients stay connected. New listeners
// (plain, TLS, WebSocket) take clients; a removed one refuses new connections while the clients it
// accepted carry on; a listener whose protocol changes on the same port serves the new one; a listener
// on a port another process holds refuses the reload whole (the running listeners stay).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { startMosquittos, type MosquittoCluster } from '../helpers/mosquitto.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { connectClient, connectBytes, rawExchange } from '../helpers/mqtt.ts';
import { freePort } from '../helpers/ports.ts';
import { makeTestCerts, type TestCerts } from '../helpers/certs.ts';
import { stats } from '../helpers/stats.ts';

let cluster: MosquittoCluster;
let sluice: SluiceProcess;
let certs: TestCerts;
let squatter: Server;
/** Connected through the first listener before any reload; the next test removes that listener. */
let onA: MqttClient;
const port = { a: 0, b: 0, tls: 0, ws: 0, taken: 0 };
const base = () => ({ workers: 2, brokers: [{ name: 'm1', address: cluster.brokers[0].address }], log: { level: 'info' } });

test.before(async () => {
  cluster = await startMosquittos(1);
  certs = makeTestCerts();
  for (const k of Object.keys(port) as (keyof typeof port)[]) port[k] = await freePort();
  squatter = createServer();
  await new Promise<void>((r) => squatter.listen(port.taken, '127.0.0.1', r));
  sluice = await startSluice({ ...base(), listeners: [{ bind: `127.0.0.1:${port.a}` }] });
});

test.after(async () => {
  await sluice?.stop();
  squatter?.close();
  await cluster?.stop();
  certs?.remove();
});

async function reload(config: Record<string, unknown>, what: RegExp): Promise<string> {
  const from = sluice.output().length;
  sluice.rewrite(config);
  sluice.process.kill('SIGHUP');
  for (let i = 0; i < 250; i++) {
    const out = sluice.output().slice(from);
    if (what.test(out)) return out;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no ${what} after SIGHUP:\n${sluice.output().slice(from)}`);
}

/** A client that subscribes to its own topic, then publishes to it: proves the connection still works. */
async function roundTrip(client: MqttClient, topic: string): Promise<void> {
  await client.subscribeAsync(topic, { qos: 1 });
  const got = new Promise<string>((resolve) => client.once('message', (_t, p) => resolve(p.toString())));
  await client.publishAsync(topic, 'ping', { qos: 1 });
  assert.is(await got, 'ping');
}

/** The CONNACK code a plain MQTT client gets on `p`, or the error its connect met. */
async function plainConnack(p: number): Promise<number | string> {
  const r = await rawExchange(p, [connectBytes({ clientId: `probe-${p}` })], { stopAfterBytes: 4, waitMs: 2000 });
  return r.data.length >= 4 ? r.data[3] : r.error ?? 'closed';
}

test('listeners added (plain, TLS, WebSocket) serve at once; the first listener and its client are untouched', async () => {
  onA = await connectClient(port.a, { clientId: 'on-a' });
  const out = await reload({
    ...base(),
    listeners: [
      { bind: `127.0.0.1:${port.a}` },
      { bind: `127.0.0.1:${port.b}` },
      { bind: `127.0.0.1:${port.tls}`, protocol: 'mqtts', tls: { cert: certs.server.cert, key: certs.server.key } },
      { bind: `127.0.0.1:${port.ws}`, protocol: 'ws' },
    ],
  }, /config reloaded/);
  assert.match(out, /"msg":"listeners changed"/);
  assert.match(out, /"applied":\["listeners"\]/);
  const onB = await connectClient(port.b, { clientId: 'on-b' });
  const secure = await mqtt.connectAsync(`mqtts://127.0.0.1:${port.tls}`, { clientId: 'on-tls', ca: readFileSync(certs.ca), reconnectPeriod: 0 }, false);
  const ws = await mqtt.connectAsync(`ws://127.0.0.1:${port.ws}/mqtt`, { clientId: 'on-ws', reconnectPeriod: 0 }, false);
  for (const [c, t] of [[onA, 'a'], [onB, 'b'], [secure, 'tls'], [ws, 'ws']] as const) await roundTrip(c, `lr/${t}`);
  await Promise.all([onB.endAsync(), secure.endAsync(), ws.endAsync()]);
});

test('a removed listener takes no new client; the client it accepted carries on', async () => {
  let dropped = false;
  onA.on('close', () => { dropped = true; });
  await reload({ ...base(), listeners: [{ bind: `127.0.0.1:${port.b}` }] }, /config reloaded/);
  assert.is(await plainConnack(port.a), 'ECONNREFUSED');
  assert.is(await plainConnack(port.tls), 'ECONNREFUSED');
  assert.is(await plainConnack(port.b), 0);
  await roundTrip(onA, 'lr/a-after');
  assert.not.ok(dropped, 'the client on the removed listener was not dropped');
  await onA.endAsync();
});

test('a listener whose protocol changes on the same port serves the new protocol', async () => {
  await reload({ ...base(), listeners: [{ bind: `127.0.0.1:${port.b}`, protocol: 'ws' }] }, /config reloaded/);
  const ws = await mqtt.connectAsync(`ws://127.0.0.1:${port.b}/mqtt`, { clientId: 'b-as-ws', reconnectPeriod: 0 }, false);
  await roundTrip(ws, 'lr/b-ws');
  await ws.endAsync();
  assert.not.equal(await plainConnack(port.b), 0, 'plain MQTT is no longer served there');
});

test('a listener on a port another process holds: the reload is refused whole; the running listeners stay', async () => {
  const before = (await stats(sluice)).counters.config_reload_failures;
  const out = await reload({
    ...base(),
    brokers: [{ name: 'm1', address: cluster.brokers[0].address, weight: 2 }],
    listeners: [{ bind: `127.0.0.1:${port.b}`, protocol: 'ws' }, { bind: `127.0.0.1:${port.taken}` }],
  }, /config reload refused/);
  assert.match(out, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port.taken}: EADDRINUSE`));
  assert.is((await stats(sluice)).counters.config_reload_failures, before + 1);
  const ws = await mqtt.connectAsync(`ws://127.0.0.1:${port.b}/mqtt`, { clientId: 'b-still-ws', reconnectPeriod: 0 }, false);
  await ws.endAsync();
  const view = (await sluice.admin<{ name: string; weight: number }[]>('/api/brokers')).body;
  assert.is(view[0].weight, 1, 'the broker change in the refused file was not applied either');
});

test.run();
