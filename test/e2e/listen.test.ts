// End to end: a ":port" listener serves every address, IPv6 and IPv4 (dual stack);
// where the machine has no IPv6 loopback it serves IPv4 (Node's fallback to 0.0.0.0).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer } from 'node:net';
import mqtt from 'mqtt';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { freePort } from '../helpers/ports.ts';

let sluice: SluiceProcess | undefined;
test.after(async () => { await sluice?.stop(); });

/** Whether this machine can listen on ::1 (checked, never assumed: containers often lack IPv6). */
function hasIpv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}

async function connack(url: string, clientId: string): Promise<boolean> {
  const client = await mqtt.connectAsync(url, { clientId, reconnectPeriod: 0, connectTimeout: 5000 });
  const ok = client.connected;
  await client.endAsync();
  return ok;
}

test(':port accepts MQTT clients on ::1 and on 127.0.0.1 (or IPv4 alone without IPv6)', async () => {
  sluice = await startSluice({ workers: 2, demo: { brokers: 1, first_port: await freePort() }, log: { level: 'warn' } }, { listenHost: '' });
  const ipv6 = await hasIpv6Loopback();
  // A few connections each: the kernel spreads them over both workers' reusePort listeners.
  for (let i = 0; i < 4; i++) {
    assert.ok(await connack(`mqtt://127.0.0.1:${sluice.port}`, `v4-${i}`), 'IPv4 client got CONNACK');
    if (ipv6) assert.ok(await connack(`mqtt://[::1]:${sluice.port}`, `v6-${i}`), 'IPv6 client got CONNACK');
  }
  if (!ipv6) console.log('  (no IPv6 loopback here: asserted the IPv4 fallback of ":port")');
});

test.run();
