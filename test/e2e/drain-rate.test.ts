// End to end: draining at a bounded close rate. A reload drains a broker with drain_close_rate 5: its
// clients are closed about 5 a second (spread, not all at once), each counted, and they land elsewhere
// when they come back.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { MqttClient } from 'mqtt';
import { startMosquittos, type MosquittoCluster } from '../helpers/mosquitto.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { connectClient } from '../helpers/mqtt.ts';
import { listedClient } from '../helpers/clients.ts';
import { stats } from '../helpers/stats.ts';

let cluster: MosquittoCluster;
let sluice: SluiceProcess;
const base = { workers: 2, balance: { strategy: 'sticky' }, log: { level: 'info' } };

test.before(async () => {
  cluster = await startMosquittos(2);
  sluice = await startSluice({ ...base, brokers: [{ name: 'm1', address: cluster.brokers[0].address }] });
});

test.after(async () => {
  await sluice?.stop();
  await cluster?.stop();
});

test('drain: true with drain_close_rate 5: ten clients closed over about two seconds, not at once; they come back on m2', async () => {
  const closedAt: number[] = [];
  const clients: MqttClient[] = [];
  for (let i = 0; i < 10; i++) {
    const c = await connectClient(sluice.port, { clientId: `drain-rate-${i}` });
    c.on('close', () => closedAt.push(Date.now()));
    clients.push(c);
  }
  const before = await stats(sluice);
  const from = sluice.output().length;
  sluice.rewrite({ ...base, brokers: [{ name: 'm1', address: cluster.brokers[0].address, drain: true, drain_close_rate: 5 }, { name: 'm2', address: cluster.brokers[1].address }] });
  sluice.process.kill('SIGHUP');
  for (let i = 0; i < 100 && !/config reloaded/.test(sluice.output().slice(from)); i++) await new Promise((r) => setTimeout(r, 20));
  const startMs = Date.now();
  for (let i = 0; i < 200 && closedAt.length < 10; i++) await new Promise((r) => setTimeout(r, 50));
  assert.is(closedAt.length, 10, 'every client of the draining broker was closed');
  const spreadMs = Math.max(...closedAt) - Math.min(...closedAt);
  assert.ok(spreadMs >= 1000, `closes spread over ${spreadMs}ms (5 a second)`);
  assert.ok(Math.min(...closedAt) - startMs < 1500, 'the first close came within the first second');
  const after = await stats(sluice);
  assert.is(after.counters.connections_drained - before.counters.connections_drained, 10);
  const back = await connectClient(sluice.port, { clientId: 'drain-rate-0' });
  assert.is((await listedClient(sluice, 'drain-rate-0')).broker, 'm2', 'a drained client comes back elsewhere');
  await back.endAsync();
});

test.run();
