// End to end: no secret reaches any output, at the most verbose log level and with every debug switch a
// Node developer reaches for (DEBUG='*' makes mqtt-packet print each parsed password buffer; NODE_DEBUG
// makes Node print stream chunks). The demo's in-process brokers (aedes, on mqtt-packet's parser) are the
// worst case: the CONNECT is parsed in Sluice's own process.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { freePortBlock } from '../helpers/ports.ts';
import { connectClient } from '../helpers/mqtt.ts';

const password = 'pw-Secr3t-never-logged';
const token = 'tok-Secr3t-never-logged';

/** Every way a secret shows up in a dump: as text, hex (spaced as Node prints Buffers, or not), base64. */
function leaks(output: string, secret: string): string[] {
  const b = Buffer.from(secret);
  const spacedHex = [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
  const forms = { text: secret, hex: b.toString('hex'), spacedHex: spacedHex.slice(0, 3 * 8 - 1), base64: b.toString('base64').slice(0, 12) };
  return Object.entries(forms).filter(([, f]) => output.includes(f)).map(([k]) => k);
}

async function exercise(env: Record<string, string>): Promise<SluiceProcess> {
  const s = await startSluice({ workers: 1, demo: { brokers: 2, first_port: await freePortBlock(2), engine: 'aedes' }, log: { level: 'trace' } }, { env });
  const c = await connectClient(s.port, { clientId: 'secret-holder', username: 'alice', password });
  await c.publishAsync('t/secret', 'hello');
  await c.endAsync();
  const pub = spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(s.port), '-i', 'secret-pub', '-u', 'bob', '-P', password, '-t', 't/x', '-m', 'm'], { timeout: 10_000 });
  assert.is(pub.status, 0, String(pub.stderr));
  await s.admin('/api/stats', { headers: { authorization: `Bearer ${token}` } });
  return s;
}

test('DEBUG=* and trace level: no password or token in any output; the ignored switch is named', async () => {
  const s = await exercise({ DEBUG: '*' });
  await s.stop();
  const out = s.output();
  assert.match(out, /DEBUG ignored/);
  assert.ok(out.length > 1000, 'there is output to check');
  assert.equal(leaks(out, password), [], 'password');
  assert.equal(leaks(out, token), [], 'token');
});

test('DEBUG=* with NODE_DEBUG=net,stream,http,tls,worker: still nothing, and Sluice serves normally', async () => {
  const s = await exercise({ DEBUG: '*', NODE_DEBUG: 'net,stream,http,tls,worker' });
  await s.stop();
  const out = s.output();
  assert.match(out, /DEBUG and NODE_DEBUG ignored/);
  assert.match(out, /sluice stopped/, 'stopped cleanly through the signal it was given');
  assert.equal(leaks(out, password), [], 'password');
  assert.equal(leaks(out, token), [], 'token');
});

test.run();
