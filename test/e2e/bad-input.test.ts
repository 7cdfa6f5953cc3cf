// End to end: every bad-input case gets its defined outcome (CONNACK reason code or close), a counter
// and a log line, and Sluice keeps serving. Real Mosquitto behind, raw sockets and MQTT.js in front.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import mqttPacket from 'mqtt-packet';
import { startMosquittos, type MosquittoCluster } from '../helpers/mosquitto.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { connectBytes, connectClient, parsePackets, rawExchange } from '../helpers/mqtt.ts';

type Stats = { counters: Record<string, number>; openClients: number };

let cluster: MosquittoCluster;
let sluice: SluiceProcess;
const secret = 'hunter2-do-not-log-me';

test.before(async () => {
  cluster = await startMosquittos(1);
  sluice = await startSluice({
    workers: 2,
    brokers: cluster.brokers.map((b) => ({ name: b.name, address: b.address })),
    limits: { connect_timeout: '600ms', max_connect_size: '1KiB' },
    // debug: the most verbose level must still never print a password.
    log: { level: 'debug' },
  });
});

test.after(async () => {
  await sluice?.stop();
  await cluster?.stop();
});

async function counter(name: string): Promise<number> {
  return (await sluice.admin<Stats>('/api/stats')).body.counters[name];
}

function connack(data: Buffer, version: number): { reasonCode?: number; returnCode?: number } {
  const packets = parsePackets(data, version);
  assert.is(packets.length, 1, `one packet back, got ${data.toString('hex')}`);
  assert.is(packets[0].cmd, 'connack');
  return packets[0] as mqttPacket.IConnackPacket;
}

test('first packet not CONNECT: closed without a CONNACK, counted', async () => {
  const before = await counter('refused_not_connect');
  const r = await rawExchange(sluice.port, [Buffer.from([0xc0, 0x00])]);
  assert.ok(r.closed);
  assert.is(r.data.length, 0);
  assert.is(await counter('refused_not_connect'), before + 1);
});

test('malformed MQTT 5 CONNECT gets CONNACK 0x81; malformed 3.1.1 is closed', async () => {
  const good5 = connectBytes({ clientId: 'm5', protocolVersion: 5 });
  const bad5 = Buffer.from(good5);
  bad5[9] |= 0x01; // connect flags byte: the reserved bit must be 0 (MQTT 5.0 §3.1.2.3)
  const r5 = await rawExchange(sluice.port, [bad5]);
  assert.ok(r5.closed);
  assert.is(connack(r5.data, 5).reasonCode, 0x81);

  const bad4 = Buffer.from(connectBytes({ clientId: 'm4', protocolVersion: 4 }));
  bad4[9] |= 0x01;
  const r4 = await rawExchange(sluice.port, [bad4]);
  assert.ok(r4.closed);
  assert.is(r4.data.length, 0);
});

test('unsupported protocol level: 0x84 in MQTT 5 form for level 6, 0x01 in 3.1.1 form for level 2', async () => {
  const v6 = Buffer.from(connectBytes({ clientId: 'x', protocolVersion: 4 }));
  v6[8] = 6; // protocol level byte
  const r6 = await rawExchange(sluice.port, [v6]);
  assert.ok(r6.closed);
  assert.is(connack(r6.data, 5).reasonCode, 0x84);
  const v2 = Buffer.from(connectBytes({ clientId: 'x', protocolVersion: 4 }));
  v2[8] = 2;
  const r2 = await rawExchange(sluice.port, [v2]);
  assert.ok(r2.closed);
  assert.is(connack(r2.data, 4).returnCode, 0x01);
});

test('oversized CONNECT: MQTT 5 gets 0x95, 3.1.1 is closed; counted', async () => {
  const before = await counter('refused_too_large');
  const long = 'L'.repeat(4000);
  const r5 = await rawExchange(sluice.port, [connectBytes({ clientId: long, protocolVersion: 5 })]);
  assert.ok(r5.closed);
  assert.is(connack(r5.data, 5).reasonCode, 0x95);
  const r4 = await rawExchange(sluice.port, [connectBytes({ clientId: long, protocolVersion: 4 })]);
  assert.ok(r4.closed);
  assert.is(r4.data.length, 0);
  assert.is(await counter('refused_too_large'), before + 2);
});

test('CONNECT that never completes is closed after limits.connect_timeout', async () => {
  const before = await counter('refused_connect_timeout');
  const full = connectBytes({ clientId: 'slowpoke', protocolVersion: 4 });
  const r = await rawExchange(sluice.port, [full.subarray(0, 10)], { waitMs: 5000 });
  assert.ok(r.closed, 'closed by Sluice');
  assert.ok(r.elapsedMs >= 500 && r.elapsedMs < 4000, `closed after ${r.elapsedMs} ms`);
  assert.is(await counter('refused_connect_timeout'), before + 1);
  // The log line names the client by its address (the native engine reads it before it closes).
  assert.match(sluice.output(), /"remote":"127\.0\.0\.1:\d+","bufferedBytes":10,"msg":"CONNECT not complete within the timeout"/);
});

test('a CONNECT split into one-byte segments, followed by SUBSCRIBE in the last segment, works', async () => {
  const c = connectBytes({ clientId: 'split-client', protocolVersion: 4 });
  const sub = mqttPacket.generate({ cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: 'split/#', qos: 0 }] } as mqttPacket.ISubscribePacket);
  const chunks = [...c.subarray(0, c.length - 1)].map((b) => Buffer.from([b]));
  chunks.push(Buffer.concat([c.subarray(c.length - 1), sub]));
  const r = await rawExchange(sluice.port, chunks, { gapMs: 2, waitMs: 3000, stopAfterBytes: 4 + 5 });
  const packets = parsePackets(r.data, 4);
  assert.equal(packets.map((p) => p.cmd), ['connack', 'suback']);
  assert.is((packets[0] as mqttPacket.IConnackPacket).returnCode, 0);
});

test('an MQTT 3.1 (MQIsdp) client is forwarded and accepted', async () => {
  const r = await rawExchange(sluice.port, [connectBytes({ clientId: 'old-31', protocolVersion: 3 })], { stopAfterBytes: 4 });
  assert.is(connack(r.data, 4).returnCode, 0);
});

test('garbage from 200 clients never crashes Sluice; a good client works afterwards', async () => {
  let seed = 12345;
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
  for (let batch = 0; batch < 10; batch++) {
    await Promise.all(Array.from({ length: 20 }, () => {
      const good = connectBytes({ clientId: `fuzz-${Math.floor(rnd() * 1e6)}`, protocolVersion: rnd() < 0.5 ? 4 : 5, username: 'u', password: secret });
      const bytes = Buffer.from(good);
      for (let k = 0; k < 3; k++) bytes[Math.floor(rnd() * bytes.length)] = Math.floor(rnd() * 256);
      return rawExchange(sluice.port, [bytes.subarray(0, 1 + Math.floor(rnd() * bytes.length))], { waitMs: 800 });
    }));
  }
  const { status } = await sluice.admin('/healthz');
  assert.is(status, 200);
  const c = await connectClient(sluice.port, { clientId: 'after-fuzz', username: 'u', password: secret });
  assert.ok(c.connected);
  await c.endAsync();
});

test('no password ever reaches the log, at debug level', () => {
  assert.ok(sluice.output().length > 0, 'there is log output to check');
  assert.not.ok(sluice.output().includes(secret));
});

test.run();
