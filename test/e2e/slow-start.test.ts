// End to end: slow start. A broker that comes back up (health checks) takes new clients on a ramp: right
// after it returns it gets few of them; a broker up since the start has no ramp.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { restartMosquitto, startMosquittos, stopProcess, type MosquittoCluster } from '../helpers/mosquitto.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { connectClient } from '../helpers/mqtt.ts';
import { listedClient } from '../helpers/clients.ts';

type BrokerView = { name: string; healthy: boolean };

let cluster: MosquittoCluster;
let sluice: SluiceProcess;

test.before(async () => {
  cluster = await startMosquittos(2);
  sluice = await startSluice({
    workers: 2,
    brokers: [{ name: 'm1', address: cluster.brokers[0].address }, { name: 'm2', address: cluster.brokers[1].address, slow_start: '60s' }],
    balance: { strategy: 'round-robin' },
    health: { mqtt: { interval: '150ms', timeout: '100ms', rise: 1, fall: 1 } },
    log: { level: 'warn' },
  });
});

test.after(async () => {
  await sluice?.stop();
  await cluster?.stop();
});

async function placed(prefix: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = await connectClient(sluice.port, { clientId: `${prefix}-${i}` });
    out.push((await listedClient(sluice, `${prefix}-${i}`)).broker);
    await c.endAsync();
  }
  return out;
}

async function waitHealthy(name: string, healthy: boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await sluice.admin<BrokerView[]>('/api/brokers')).body.find((b) => b.name === name)?.healthy === healthy) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${name} never ${healthy ? 'up' : 'down'}`);
}

test('up since the start: no ramp; back after a failure: few new clients at first', async () => {
  const atStart = await placed('start', 10);
  assert.ok(atStart.filter((b) => b === 'm2').length >= 4, `round-robin from the start: ${atStart}`);
  await stopProcess(cluster.brokers[1].process);
  await waitHealthy('m2', false);
  await restartMosquitto(cluster.brokers[1]);
  await waitHealthy('m2', true);
  // Within the first seconds of a 60 s ramp its share is a few percent.
  const ramp = (await sluice.admin<{ name: string; slowStart?: { share: number } }[]>('/api/brokers')).body.find((b) => b.name === 'm2')!.slowStart;
  assert.ok(ramp !== undefined && ramp.share <= 0.15, `m2's ramp in /api/brokers: ${JSON.stringify(ramp)}`);
  const back = await placed('back', 10);
  assert.ok(back.filter((b) => b === 'm2').length <= 3, `m2 right after coming back: ${back}`);
});

test.run();
