// End to end: passive health. A broker whose connects fail is marked down after `failures` in a row, so
// later clients go straight to a live broker (no connect tried on the dead one); after the cooldown it is
// tried again.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startMosquittos, type MosquittoCluster } from '../helpers/mosquitto.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { connectClient } from '../helpers/mqtt.ts';
import { stats } from '../helpers/stats.ts';
import { freePort } from '../helpers/ports.ts';

let cluster: MosquittoCluster;
let sluice: SluiceProcess;

test.before(async () => {
  cluster = await startMosquittos(1);
  const deadPort = await freePort(); // nothing listens there: every connect is refused
  sluice = await startSluice({
    workers: 1,
    brokers: [{ name: 'dead', address: `127.0.0.1:${deadPort}` }, { name: 'm1', address: cluster.brokers[0].address }],
    balance: { strategy: 'round-robin' },
    health: { passive: { failures: 2, cooldown: '1500ms' } },
    log: { level: 'info' },
  });
});

test.after(async () => {
  await sluice?.stop();
  await cluster?.stop();
});

type BrokerView = { name: string; healthy: boolean };

test('after 2 failed connects the dead broker is skipped; after the cooldown it is tried again', async () => {
  const connectN = async (n: number, prefix: string) => {
    for (let i = 0; i < n; i++) await (await connectClient(sluice.port, { clientId: `${prefix}-${i}` })).endAsync();
  };
  await connectN(6, 'first');
  const s1 = await stats(sluice);
  assert.is(s1.counters.broker_connect_failures, 2, 'two failed connects, then the broker was skipped');
  await new Promise((r) => setTimeout(r, 300)); // the primary's scan logs and counts it
  assert.is((await stats(sluice)).counters.broker_marked_down, 1);
  assert.match(sluice.output(), /broker marked down: its connects fail/);
  assert.is((await sluice.admin<BrokerView[]>('/api/brokers')).body.find((b) => b.name === 'dead')!.healthy, false);
  await connectN(6, 'during');
  assert.is((await stats(sluice)).counters.broker_connect_failures, 2, 'no connect tried while it is down');
  await new Promise((r) => setTimeout(r, 1700));
  assert.match(sluice.output(), /broker marked up after its cooldown/);
  await connectN(4, 'after');
  assert.ok((await stats(sluice)).counters.broker_connect_failures > 2, 'tried again after the cooldown');
});

test.run();
