// The MQTT probe against a real in-process broker (aedes) and against servers that answer wrong.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import mqttPacket from 'mqtt-packet';
import { probeMqtt, type MqttProbeOptions } from '../../src/health/mqtt-probe.ts';
import { freePort } from '../helpers/ports.ts';

const opts: MqttProbeOptions = { timeoutMs: 500, clientId: 'sluice-hc-test-0', protocolVersion: 4 };
const servers: Server[] = [];
const sockets = new Set<Socket>();
let aedes: Aedes;
let aedesPort: number;
const seen: { clientId: string; username?: string; password?: string; clean: boolean; disconnected: boolean }[] = [];

async function listen(onConnection: (s: Socket) => void): Promise<number> {
  const server = createServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => {}); onConnection(s); });
  servers.push(server);
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return port;
}

test.before(async () => {
  aedes = await Aedes.createBroker({
    authenticate: (client, username, password, done) => {
      seen.push({ clientId: client.id, username, password: password?.toString(), clean: client.clean, disconnected: false });
      if (username === 'hc' && password?.toString() !== 's3cret') {
        done(Object.assign(new Error('bad password'), { returnCode: 4 }), false);
        return;
      }
      done(null, true);
    },
  });
  aedes.on('clientDisconnect', (client) => { const s = seen.findLast((x) => x.clientId === client.id); if (s) s.disconnected = true; });
  aedesPort = await listen((s) => aedes.handle(s));
});

test.after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => aedes.close(() => resolve()));
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

test('a broker that accepts the CONNECT passes; the probe is a clean session that says DISCONNECT', async () => {
  const r = await probeMqtt('127.0.0.1', aedesPort, opts);
  assert.is(r.ok, true);
  const s = seen.find((x) => x.clientId === 'sluice-hc-test-0');
  assert.ok(s, 'the broker saw the probe\'s client id');
  assert.is(s!.clean, true);
  for (let i = 0; i < 50 && !s!.disconnected; i++) await new Promise((r2) => setTimeout(r2, 10));
  assert.is(s!.disconnected, true, 'the probe disconnected');
});

test('credentials go in the CONNECT; a wrong password is a refusal with its CONNACK code', async () => {
  const good = await probeMqtt('127.0.0.1', aedesPort, { ...opts, clientId: 'hc-good', username: 'hc', password: Buffer.from('s3cret') });
  assert.is(good.ok, true);
  assert.is(seen.find((x) => x.clientId === 'hc-good')?.password, 's3cret');
  const bad = await probeMqtt('127.0.0.1', aedesPort, { ...opts, clientId: 'hc-bad', username: 'hc', password: Buffer.from('nope') });
  assert.equal(bad.ok ? bad : { reason: bad.reason, detail: bad.detail }, { reason: 'refused', detail: 'CONNACK code 0x04' });
});

test('a port that accepts but never answers MQTT: timeout', async () => {
  const port = await listen(() => { /* silent */ });
  const r = await probeMqtt('127.0.0.1', port, { ...opts, timeoutMs: 150 });
  assert.is(r.ok, false);
  if (!r.ok) {
    assert.is(r.reason, 'timeout');
    assert.ok(r.ms >= 140 && r.ms < 1000, `timed out after ${r.ms}ms`);
  }
});

test('nothing listening: connect-failed with the errno', async () => {
  const port = await freePort();
  const r = await probeMqtt('127.0.0.1', port, opts);
  assert.equal(r.ok ? r : { reason: r.reason, detail: r.detail }, { reason: 'connect-failed', detail: 'ECONNREFUSED' });
});

test('an answer that is not a CONNACK, or not MQTT at all: not-mqtt', async () => {
  const suback = await listen((s) => s.write(mqttPacket.generate({ cmd: 'pingresp' })));
  const r1 = await probeMqtt('127.0.0.1', suback, opts);
  assert.equal(r1.ok ? r1 : r1.reason, 'not-mqtt');
  const http = await listen((s) => s.once('data', () => s.write('HTTP/1.1 400 Bad Request\r\n\r\n')));
  const r2 = await probeMqtt('127.0.0.1', http, opts);
  assert.equal(r2.ok ? r2 : r2.reason, 'not-mqtt');
});

test('a broker that closes before answering: closed', async () => {
  const port = await listen((s) => s.once('data', () => s.end()));
  const r = await probeMqtt('127.0.0.1', port, opts);
  assert.equal(r.ok ? r : r.reason, 'closed');
});

test.run();
