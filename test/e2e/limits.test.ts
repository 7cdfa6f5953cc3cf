// End to end: no reachable broker, max_connections and connect_rate answer with CONNACK reason codes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startMosquittos, type MosquittoCluster } from '../helpers/mosquitto.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { freePort } from '../helpers/ports.ts';
import { connackCode, connectBytes, rawExchange } from '../helpers/mqtt.ts';

let cluster: MosquittoCluster;
const started: SluiceProcess[] = [];

test.before(async () => { cluster = await startMosquittos(1); });
test.after(async () => {
  for (const s of started) await s.stop();
  await cluster?.stop();
});

async function sluiceWith(config: Record<string, unknown>): Promise<SluiceProcess> {
  const s = await startSluice({ workers: 1, log: { level: 'warn' }, ...config });
  started.push(s);
  return s;
}

test('no broker reachable: CONNACK 0x03 (3.1.1) and 0x88 (5.0), after trying every candidate', async () => {
  const dead = [await freePort(), await freePort()];
  const s = await sluiceWith({ brokers: dead.map((p, i) => ({ name: `dead${i}`, address: `127.0.0.1:${p}` })) });
  const r4 = await rawExchange(s.port, [connectBytes({ clientId: 'lonely', protocolVersion: 4 })]);
  assert.is(connackCode(r4.data, 4), 0x03);
  assert.ok(r4.closed);
  const r5 = await rawExchange(s.port, [connectBytes({ clientId: 'lonely', protocolVersion: 5 })]);
  assert.is(connackCode(r5.data, 5), 0x88);
  const stats = (await s.admin<{ counters: Record<string, number> }>('/api/stats')).body.counters;
  assert.is(stats.refused_no_broker, 2);
  assert.is(stats.broker_connect_failures, 4, 'both candidates were tried for each client');
  assert.match(s.output(), /no broker reachable/);
});

test('a dead first choice falls through to a live broker', async () => {
  const s = await sluiceWith({
    balance: { strategy: 'round-robin' },
    brokers: [{ name: 'dead', address: `127.0.0.1:${await freePort()}` }, { name: 'live', address: cluster.brokers[0].address }],
  });
  for (let i = 0; i < 4; i++) {
    const r = await rawExchange(s.port, [connectBytes({ clientId: `fall-${i}`, protocolVersion: 4 })], { stopAfterBytes: 4 });
    assert.is(connackCode(r.data, 4), 0);
  }
});

test('limits.max_connections: the client over the cap gets 0x97 (5.0) / 0x03 (3.1.1)', async () => {
  const s = await sluiceWith({ brokers: [{ name: 'm', address: cluster.brokers[0].address }], limits: { max_connections: 2 } });
  // Two clients hold their connections for 1.5 s; the probes go while they are open.
  const held = Promise.all([1, 2].map((i) => rawExchange(s.port, [connectBytes({ clientId: `held-${i}`, protocolVersion: 4 })], { waitMs: 1500 })));
  await new Promise((r) => setTimeout(r, 300));
  const r5 = await rawExchange(s.port, [connectBytes({ clientId: 'over5', protocolVersion: 5 })]);
  const r4 = await rawExchange(s.port, [connectBytes({ clientId: 'over4', protocolVersion: 4 })]);
  await held;
  assert.is(connackCode(r5.data, 5), 0x97);
  assert.is(connackCode(r4.data, 4), 0x03);
});

test('limits.connect_rate: a burst past the bucket gets 0x9F (5.0)', async () => {
  const s = await sluiceWith({ brokers: [{ name: 'm', address: cluster.brokers[0].address }], limits: { connect_rate: 0.5, connect_burst: 2 } });
  const codes: (number | undefined)[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await rawExchange(s.port, [connectBytes({ clientId: `rate-${i}`, protocolVersion: 5 })], { stopAfterBytes: 3, waitMs: 2000 });
    codes.push(connackCode(r.data, 5));
  }
  assert.equal(codes, [0, 0, 0x9f, 0x9f]);
  const stats = (await s.admin<{ counters: Record<string, number> }>('/api/stats')).body.counters;
  assert.is(stats.refused_connect_rate, 2);
});

test.run();
