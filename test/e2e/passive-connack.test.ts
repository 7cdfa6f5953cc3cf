// End to end: passive health judges a broker by its CONNACKs too. A broker that accepts TCP but refuses
// every client for its own state (return code 0x03 Server unavailable) is marked down after `failures`
// refusals in a row, and later clients go to a live broker; a refusal that is about the client (bad user
// name or password, 0x04) counts nothing. Either way the client gets the broker's CONNACK unchanged.
// The refusing broker is aedes, in this process (Mosquitto cannot be made to answer 0x03).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import { startMosquittos, type MosquittoCluster } from '../helpers/mosquitto.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { connectBytes, rawExchange } from '../helpers/mqtt.ts';
import { stats } from '../helpers/stats.ts';
import { freePort } from '../helpers/ports.ts';

let cluster: MosquittoCluster;
let sluice: SluiceProcess;
let aedes: Aedes;
let server: Server;
/** The aedes broker refuses every client with 0x03 (its own state); else only client ids starting
 *  "refuse" (0x03 too) and the user name "wrong" (0x04). */
let unavailable = false;

test.before(async () => {
  cluster = await startMosquittos(1);
  aedes = await Aedes.createBroker({
    authenticate: (client, username, _password, done) => {
      const refuse = (returnCode: number) => done(Object.assign(new Error('refused'), { returnCode }) as Parameters<typeof done>[0], false);
      if (unavailable || client.id.startsWith('refuse')) refuse(3);
      else if (username === 'wrong') refuse(4);
      else done(null, true);
    },
  });
  server = createServer(aedes.handle);
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  sluice = await startSluice({
    workers: 1,
    brokers: [{ name: 'aedes', address: `127.0.0.1:${port}` }, { name: 'm1', address: cluster.brokers[0].address }],
    balance: { strategy: 'round-robin' },
    health: { passive: { failures: 2, cooldown: '60s' } },
    log: { level: 'info' },
  });
});

test.after(async () => {
  await sluice?.stop();
  server?.close();
  await new Promise<void>((resolve) => (aedes ? aedes.close(() => resolve()) : resolve()));
  await cluster?.stop();
});

type BrokerView = { name: string; healthy: boolean };

/** One client's CONNACK return code as the client reads it (MQTT 3.1.1: 20 02 flags code). */
async function connackCodeOf(clientId: string, username?: string): Promise<number> {
  const r = await rawExchange(sluice.port, [connectBytes({ clientId, username })], { stopAfterBytes: 4 });
  assert.is(r.data[0], 0x20, `${clientId}: a CONNACK came back`);
  return r.data[3];
}

test('a refusal about the client (bad credentials, 0x04) reaches the client and counts nothing', async () => {
  const codes: number[] = [];
  for (let i = 0; i < 6; i++) codes.push(await connackCodeOf(`creds-${i}`, 'wrong'));
  assert.equal(codes.sort(), [0, 0, 0, 4, 4, 4], 'round robin: three on aedes (refused), three on Mosquitto');
  const s = await stats(sluice);
  assert.is(s.counters.broker_connack_refusals, 0);
  assert.is((await sluice.admin<BrokerView[]>('/api/brokers')).body.find((b) => b.name === 'aedes')!.healthy, true);
});

test('an accepting CONNACK between two refusals ends the run: not marked down', async () => {
  // Round robin: aedes takes the 1st, 3rd and 5th client (refused, accepted, refused), Mosquitto the rest.
  const codes: number[] = [];
  for (const id of ['refuse-0', 'other-0', 'accept-1', 'other-1', 'refuse-2', 'other-2']) codes.push(await connackCodeOf(id));
  assert.equal(codes, [3, 0, 0, 0, 3, 0]);
  await new Promise((r) => setTimeout(r, 300)); // a scan would have marked it by now
  const s = await stats(sluice);
  assert.is(s.counters.broker_connack_refusals, 2);
  assert.is(s.counters.broker_marked_down ?? 0, 0, 'two refusals, but not in a row');
  assert.is((await sluice.admin<BrokerView[]>('/api/brokers')).body.find((b) => b.name === 'aedes')!.healthy, true);
});

test('a broker refusing with 0x03 is marked down after 2 in a row; then every client goes to the live broker', async () => {
  unavailable = true;
  const codes: number[] = [];
  for (let i = 0; i < 4; i++) codes.push(await connackCodeOf(`busy-${i}`));
  // The run left at 1 by the last test: one more refusal reaches 2; aedes is skipped from then on.
  assert.equal(codes, [3, 0, 0, 0], 'the refusal passed on unchanged, then aedes was skipped');
  await new Promise((r) => setTimeout(r, 300)); // the primary's scan logs and counts it
  const s = await stats(sluice);
  assert.is(s.counters.broker_connack_refusals, 3);
  assert.is(s.counters.broker_marked_down, 1);
  assert.match(sluice.output(), /broker refused a client with a CONNACK/);
  assert.is((await sluice.admin<BrokerView[]>('/api/brokers')).body.find((b) => b.name === 'aedes')!.healthy, false);
  for (let i = 0; i < 6; i++) assert.is(await connackCodeOf(`after-${i}`), 0, `after-${i} accepted by the live broker`);
  assert.is((await stats(sluice)).counters.broker_connack_refusals, 3, 'no client sent to the refusing broker');
});

test.run();
