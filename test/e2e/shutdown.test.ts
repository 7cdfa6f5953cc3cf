// End to end: SIGTERM drains. Listeners close at once (new connections are refused) while /readyz says
// 503; connected clients (spliced or JS-piped plain TCP, and WebSocket) keep working until they leave or
// shutdown.drain_timeout ends, when the rest are closed; the process exits 0. A second SIGTERM ends the
// drain at once; with no client left, the exit comes at once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import mqtt, { type MqttClient } from 'mqtt';
import { startMosquittos, type MosquittoCluster } from '../helpers/mosquitto.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { connectClient, connectBytes, rawExchange } from '../helpers/mqtt.ts';
import { freePort } from '../helpers/ports.ts';

let cluster: MosquittoCluster;

test.before(async () => {
  cluster = await startMosquittos(1);
});

test.after(async () => {
  await cluster?.stop();
});

async function start(drainTimeout: string): Promise<{ sluice: SluiceProcess; wsPort: number }> {
  const wsPort = await freePort();
  const plainPort = await freePort();
  const sluice = await startSluice({
    workers: 2,
    listeners: [{ bind: `127.0.0.1:${plainPort}` }, { bind: `127.0.0.1:${wsPort}`, protocol: 'ws' }],
    brokers: [{ name: 'm1', address: cluster.brokers[0].address }],
    shutdown: { drain_timeout: drainTimeout },
    log: { level: 'info' },
  });
  return { sluice: { ...sluice, port: plainPort }, wsPort };
}

/** Resolves with the exit code and how long after `since` it came. */
function exited(sluice: SluiceProcess, since: number): Promise<{ code: number | null; afterMs: number }> {
  return new Promise((resolve) => {
    if (sluice.process.exitCode !== null) resolve({ code: sluice.process.exitCode, afterMs: Date.now() - since });
    else sluice.process.once('exit', (code) => resolve({ code, afterMs: Date.now() - since }));
  });
}

async function roundTrip(client: MqttClient, topic: string): Promise<void> {
  await client.subscribeAsync(topic, { qos: 1 });
  const got = new Promise<string>((resolve) => client.once('message', (_t, p) => resolve(p.toString())));
  await client.publishAsync(topic, 'still here', { qos: 1 });
  assert.is(await got, 'still here');
}

test('SIGTERM: no new clients, readyz 503; live clients carry on; the drain timeout closes the rest; exit 0', async () => {
  const { sluice, wsPort } = await start('2s');
  const plain = await connectClient(sluice.port, { clientId: 'plain-drain' });
  const leaving = await connectClient(sluice.port, { clientId: 'leaves-itself' });
  const ws = await mqtt.connectAsync(`ws://127.0.0.1:${wsPort}/mqtt`, { clientId: 'ws-drain', reconnectPeriod: 0 }, false);
  const closedAt: Record<string, number> = {};
  for (const [name, c] of [['plain', plain], ['ws', ws]] as const) c.on('close', () => { closedAt[name] ??= Date.now(); });
  const t0 = Date.now();
  sluice.process.kill('SIGTERM');
  const exit = exited(sluice, t0);
  await new Promise((r) => setTimeout(r, 300));
  const refused = await rawExchange(sluice.port, [connectBytes({ clientId: 'too-late' })], { waitMs: 1000 });
  assert.is(refused.error, 'ECONNREFUSED', 'the listener is closed');
  const ready = await sluice.admin<{ why: string }>('/readyz');
  assert.equal([ready.status, ready.body.why], [503, 'shutting down']);
  await roundTrip(plain, 'drain/plain');
  await roundTrip(ws, 'drain/ws');
  await leaving.endAsync();
  const { code, afterMs } = await exit;
  assert.is(code, 0);
  assert.ok(afterMs >= 1900 && afterMs < 6000, `exit ${afterMs} ms after SIGTERM, after the 2 s drain`);
  for (const name of ['plain', 'ws']) assert.ok(closedAt[name] - t0 >= 1900, `${name} closed at the drain timeout, not before`);
  assert.match(sluice.output(), /drain timeout: the connections still open are closed/);
  assert.match(sluice.output(), /sluice stopped/);
  plain.end(true);
  ws.end(true);
  await sluice.stop(); // exited already: removes its files
});

test('with no client left the exit comes at once; a second SIGTERM ends a long drain at once', async () => {
  const idle = await start('30s');
  let t0 = Date.now();
  idle.sluice.process.kill('SIGTERM');
  let r = await exited(idle.sluice, t0);
  assert.equal(r.code, 0);
  assert.ok(r.afterMs < 1500, `no clients: exit after ${r.afterMs} ms`);
  await idle.sluice.stop();

  const busy = await start('30s');
  const c = await connectClient(busy.sluice.port, { clientId: 'held' });
  t0 = Date.now();
  busy.sluice.process.kill('SIGTERM');
  await new Promise((res) => setTimeout(res, 300));
  assert.ok(c.connected, 'still connected during the drain');
  busy.sluice.process.kill('SIGTERM');
  r = await exited(busy.sluice, t0);
  assert.equal(r.code, 0);
  assert.ok(r.afterMs < 2500, `second SIGTERM: exit after ${r.afterMs} ms`);
  assert.match(busy.sluice.output(), /the drain ends now/);
  c.end(true);
  await busy.sluice.stop();
});

test.run();
