// End to end with the Mosquitto command-line clients: mosquitto_sub and mosquitto_pub through Sluice,
// keyed by username so both land on the same (unbridged) Mosquitto broker.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { startMosquittos, type MosquittoCluster } from '../helpers/mosquitto.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';

let cluster: MosquittoCluster;
let sluice: SluiceProcess;

test.before(async () => {
  cluster = await startMosquittos(3);
  sluice = await startSluice({
    workers: 2,
    brokers: cluster.brokers.map((b) => ({ name: b.name, address: b.address })),
    balance: { strategy: 'sticky', key: ['username', 'client-id'] },
    log: { level: 'warn' },
  });
});
test.after(async () => {
  await sluice?.stop();
  await cluster?.stop();
});

test('mosquitto_sub receives what mosquitto_pub sends through Sluice (MQTT 3.1.1 and 5)', async () => {
  for (const version of ['mqttv311', 'mqttv5']) {
    const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(sluice.port), '-V', version, '-u', 'fleet-7',
      '-i', `cli-sub-${version}`, '-t', 'fleet/7/#', '-q', '1', '-C', '3', '-W', '10', '-v']);
    let out = '';
    sub.stdout.on('data', (d) => { out += d; });
    const exited = new Promise<number | null>((resolve) => sub.on('exit', (code) => resolve(code)));
    // Wait until the subscriber is placed (listed by the admin endpoint), then publish.
    for (let i = 0; i < 100; i++) {
      const { body } = await sluice.admin<{ clients: { clientId: string }[] }>(`/api/clients?client_id=cli-sub-${version}`);
      if (body.clients.length === 1) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 200)); // the SUBSCRIBE follows the CONNECT
    for (let i = 0; i < 3; i++) {
      const pub = spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(sluice.port), '-V', version, '-u', 'fleet-7',
        '-i', `cli-pub-${version}-${i}`, '-t', `fleet/7/m${i}`, '-m', `reading-${i}`, '-q', '1'], { encoding: 'utf8', timeout: 10_000 });
      assert.is(pub.status, 0, pub.stderr);
    }
    assert.is(await exited, 0, `mosquitto_sub got: ${out}`);
    assert.equal(out.trim().split('\n').sort(), ['fleet/7/m0 reading-0', 'fleet/7/m1 reading-1', 'fleet/7/m2 reading-2']);
  }
});

test.run();
