// End to end: three real Mosquitto brokers behind Sluice (2 workers), real MQTT.js clients.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import mqtt, { type MqttClient } from 'mqtt';
import { startMosquittos, type MosquittoCluster } from '../helpers/mosquitto.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { connectClient } from '../helpers/mqtt.ts';

type ClientsAnswer = { clients: { clientId: string; broker: string; worker: number }[]; total: number };

let cluster: MosquittoCluster;
let sluice: SluiceProcess;

test.before(async () => {
  cluster = await startMosquittos(3);
  sluice = await startSluice({
    workers: 2,
    brokers: cluster.brokers.map((b) => ({ name: b.name, address: b.address })),
    balance: { strategy: 'sticky' },
    log: { level: 'warn' },
  });
});

test.after(async () => {
  await sluice?.stop();
  await cluster?.stop();
});

async function placementOf(clientId: string): Promise<{ broker: string; worker: number }> {
  // The forwarded connection is registered right after the broker connect; poll briefly for it.
  for (let i = 0; i < 50; i++) {
    const { body } = await sluice.admin<ClientsAnswer>(`/api/clients?client_id=${encodeURIComponent(clientId)}`);
    if (body.clients.length === 1) return body.clients[0];
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`client ${clientId} not listed by the admin endpoint`);
}

/** Which real broker holds `clientId`: subscribe on every broker directly and see who gets its publish. */
async function brokerSeenBy(client: MqttClient, clientId: string): Promise<string> {
  const topic = `where/${clientId}`;
  const watchers = await Promise.all(cluster.brokers.map((b) => connectClient(b.port, { clientId: `watch-${b.name}-${Math.random()}` })));
  try {
    await Promise.all(watchers.map((w) => w.subscribeAsync(topic, { qos: 1 })));
    const seen = Promise.race(watchers.map((w, i) => new Promise<string>((resolve) => w.on('message', () => resolve(cluster.brokers[i].name)))));
    await client.publishAsync(topic, 'here', { qos: 1 });
    return await Promise.race([seen, new Promise<string>((_, reject) => setTimeout(() => reject(new Error('no broker saw the publish')), 3000))]);
  } finally {
    await Promise.all(watchers.map((w) => w.endAsync()));
  }
}

test('the same client id lands on the same broker on every reconnect, from different workers', async () => {
  const brokersSeen = new Set<string>();
  const realBrokersSeen = new Set<string>();
  const workersSeen = new Set<number>();
  for (let i = 0; i < 16; i++) {
    const c = await connectClient(sluice.port, { clientId: 'car-42' });
    const p = await placementOf('car-42');
    brokersSeen.add(p.broker);
    workersSeen.add(p.worker);
    if (i < 3) realBrokersSeen.add(await brokerSeenBy(c, 'car-42'));
    await c.endAsync();
    // Wait until the worker has seen the close, so the next lookup does not find this connection.
    for (let j = 0; j < 50 && (await sluice.admin<ClientsAnswer>('/api/clients?client_id=car-42')).body.clients.length > 0; j++) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  assert.equal([...brokersSeen].length, 1, `one broker, saw ${[...brokersSeen]}`);
  assert.equal([...realBrokersSeen], [...brokersSeen], 'the real broker agrees with the admin view');
  // 16 reconnects on 2 reusePort workers all on one worker has probability 2^-15.
  assert.ok(workersSeen.size >= 2, `expected both workers to serve car-42, saw ${[...workersSeen]}`);
});

test('a persistent session (clean off, QoS 1) queued on its broker is delivered on reconnect', async () => {
  const id = 'sensor-persistent-7';
  const first = await connectClient(sluice.port, { clientId: id, clean: false });
  await first.subscribeAsync(`inbox/${id}`, { qos: 1 });
  const { broker } = await placementOf(id);
  await first.endAsync();
  // Publish straight to the broker that holds the session while the client is away.
  const target = cluster.brokers.find((b) => b.name === broker)!;
  const publisher = await connectClient(target.port, { clientId: 'direct-publisher' });
  for (let i = 0; i < 3; i++) await publisher.publishAsync(`inbox/${id}`, `queued-${i}`, { qos: 1 });
  await publisher.endAsync();

  const received: string[] = [];
  // mqtt.connect (not connectAsync): the message handler must be in place before the queued messages flow.
  const again = mqtt.connect(`mqtt://127.0.0.1:${sluice.port}`, { clientId: id, clean: false, reconnectPeriod: 0 });
  again.on('message', (_t, payload) => received.push(payload.toString()));
  await new Promise<void>((resolve, reject) => {
    again.once('connect', (connack) => { if (!connack.sessionPresent) reject(new Error('session not present: placed on another broker')); });
    const t = setInterval(() => { if (received.length >= 3) { clearInterval(t); resolve(); } }, 20);
    setTimeout(() => { clearInterval(t); reject(new Error(`only ${received.length} queued messages arrived`)); }, 5000);
  });
  assert.equal(received.sort(), ['queued-0', 'queued-1', 'queued-2']);
  await again.endAsync();
});

test('distinct clients spread across all three brokers', async () => {
  const clients: MqttClient[] = [];
  const total = 240;
  for (let i = 0; i < total; i += 24) {
    clients.push(...(await Promise.all(Array.from({ length: 24 }, (_, j) => connectClient(sluice.port, { clientId: `spread-${i + j}` })))));
  }
  let listed: ClientsAnswer['clients'] = [];
  for (let i = 0; i < 50 && listed.length < total; i++) {
    listed = (await sluice.admin<ClientsAnswer>('/api/clients?limit=1000')).body.clients.filter((c) => c.clientId.startsWith('spread-'));
    if (listed.length < total) await new Promise((r) => setTimeout(r, 20));
  }
  assert.is(listed.length, total);
  const perBroker = new Map<string, number>();
  for (const c of listed) perBroker.set(c.broker, (perBroker.get(c.broker) ?? 0) + 1);
  assert.is(perBroker.size, 3, `all brokers used: ${JSON.stringify([...perBroker])}`);
  for (const [name, n] of perBroker) assert.ok(n > total * 0.2 && n < total * 0.47, `${name} got ${n} of ${total}`);
  const brokers = (await sluice.admin<{ name: string; liveConnections: number }[]>('/api/brokers')).body;
  assert.is(brokers.reduce((s, b) => s + b.liveConnections, 0) >= total, true, 'live connection counts include every client');
  await Promise.all(clients.map((c) => c.endAsync()));
});

test('an MQTT 5 client with an empty client id is sticky by username', async () => {
  const seen = new Set<string>();
  for (let i = 0; i < 4; i++) {
    const c = await connectClient(sluice.port, { clientId: '', protocolVersion: 5, username: 'fleet-user-9', clean: true });
    // Mosquitto assigns the id; find this connection by the username the admin view records.
    const { body } = await sluice.admin<{ clients: { username?: string; broker: string }[] }>('/api/clients?limit=1000');
    const mine = body.clients.filter((x) => x.username === 'fleet-user-9');
    assert.is(mine.length, 1);
    seen.add(mine[0].broker);
    await c.endAsync();
    for (let j = 0; j < 50; j++) {
      const left = (await sluice.admin<{ clients: { username?: string }[] }>('/api/clients?limit=1000')).body.clients.some((x) => x.username === 'fleet-user-9');
      if (!left) break;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  assert.is(seen.size, 1);
});

test.run();
