// End to end: a broker configured with drain: true takes no new client (sticky keys included); the
// admin API shows it draining.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startMosquittos, type MosquittoCluster } from '../helpers/mosquitto.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { connectClient } from '../helpers/mqtt.ts';
import { listedClient } from '../helpers/clients.ts';

let cluster: MosquittoCluster;
let sluice: SluiceProcess;

test.before(async () => {
  cluster = await startMosquittos(2);
  sluice = await startSluice({
    workers: 2,
    brokers: [{ name: 'm1', address: cluster.brokers[0].address, drain: true }, { name: 'm2', address: cluster.brokers[1].address }],
    balance: { strategy: 'sticky' },
    log: { level: 'warn' },
  });
});

test.after(async () => {
  await sluice?.stop();
  await cluster?.stop();
});

test('drain: true: every new client goes to the other broker; /api/brokers says draining', async () => {
  const { body } = await sluice.admin<{ name: string; draining: boolean }[]>('/api/brokers');
  assert.equal(body.map((b) => [b.name, b.draining]), [['m1', true], ['m2', false]]);
  for (let i = 0; i < 10; i++) {
    const id = `drain-${i}`;
    const c = await connectClient(sluice.port, { clientId: id, reconnectPeriod: 0 });
    assert.is((await listedClient(sluice, id)).broker, 'm2', id);
    await c.endAsync();
  }
});

test.run();
