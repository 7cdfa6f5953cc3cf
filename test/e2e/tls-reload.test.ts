// End to end: certificates reload while 100 TLS clients stream, and none of them drops; new handshakes
// get the new certificate (on a file change and on SIGHUP); a bad new key keeps the old certificate and
// the log says why; GET /api/tls shows what is served and how the last reload went.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { startEchoBroker, type EchoBroker } from '../helpers/echo-broker.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { freePort } from '../helpers/ports.ts';
import { makeTestCerts, type TestCerts } from '../helpers/certs.ts';
import { connectBytes } from '../helpers/mqtt.ts';

let certs: TestCerts;
let broker: EchoBroker;
let sluice: SluiceProcess;
let tlsPort = 0;
let live: { cert: string; key: string };

test.before(async () => {
  certs = makeTestCerts();
  live = { cert: join(certs.dir, 'live.pem'), key: join(certs.dir, 'live.key') };
  copyFileSync(certs.server.cert, live.cert);
  copyFileSync(certs.server.key, live.key);
  broker = await startEchoBroker();
  tlsPort = await freePort();
  sluice = await startSluice({
    workers: 2,
    listeners: [{ bind: `127.0.0.1:${tlsPort}`, protocol: 'mqtts', tls: { cert: live.cert, key: live.key } }],
    brokers: [{ name: 'echo', address: `127.0.0.1:${broker.port}` }],
    log: { level: 'info' },
  });
});

test.after(async () => {
  await sluice?.stop();
  await broker?.close();
  certs?.remove();
});

/** The CN of the certificate a new handshake gets (no name check: the test swaps certificates). */
function servedCn(): Promise<string | string[] | undefined> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: tlsPort, ca: readFileSync(certs.ca), checkServerIdentity: () => undefined }, () => {
      const cn = s.getPeerCertificate().subject?.CN;
      s.destroy();
      resolve(cn);
    });
    s.on('error', reject);
  });
}

const reloads = (trigger: string) => sluice.output().split('\n').filter((l) => l.includes('TLS certificates reloaded') && l.includes(`"trigger":"${trigger}"`)).length;

async function until(what: string, ready: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}\n${sluice.output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('100 streaming TLS clients keep streaming through two reloads; new handshakes get the new certificate', async () => {
  const n = 100;
  const clients: { s: TLSSocket; echoed: number; closed: boolean }[] = [];
  await Promise.all(Array.from({ length: n }, (_, i) => new Promise<void>((resolve, reject) => {
    const c = { s: tlsConnect({ host: '127.0.0.1', port: tlsPort, ca: readFileSync(certs.ca) }), echoed: 0, closed: false };
    c.s.once('secureConnect', () => c.s.write(connectBytes({ clientId: `stream-${i}` })));
    c.s.on('data', (d: Buffer) => { c.echoed += d.length; if (c.echoed >= 4) resolve(); });
    c.s.once('close', () => { c.closed = true; });
    c.s.once('error', reject);
    clients.push(c);
  })));
  // Every client writes a small message every 20 ms (bounded: the timer stops at the end of the test).
  const message = Buffer.from([0x30, 0x06, 0x00, 0x01, 0x74, 0x61, 0x62, 0x63]);
  const tick = setInterval(() => { for (const c of clients) if (!c.closed) c.s.write(message); }, 20);
  try {
    assert.is(await servedCn(), 'sluice-test');
    // A cert manager writes new files: the watch reloads them.
    copyFileSync(certs.other.cert, live.cert);
    copyFileSync(certs.other.key, live.key);
    await until('a reload on the file change', () => reloads('file change') >= 1);
    await until('the new certificate served', async () => (await servedCn()) === 'other.test');
    // And back, by SIGHUP (the watch may reload too; SIGHUP's own reload is the one counted here).
    copyFileSync(certs.server.cert, live.cert);
    copyFileSync(certs.server.key, live.key);
    sluice.process.kill('SIGHUP');
    await until('a reload on SIGHUP', () => reloads('SIGHUP') >= 1);
    await until('the first certificate served again', async () => (await servedCn()) === 'sluice-test');
    const before = clients.map((c) => c.echoed);
    await new Promise((r) => setTimeout(r, 300));
    assert.is(clients.filter((c) => c.closed).length, 0, 'no client dropped');
    assert.is(clients.filter((c, i) => c.echoed <= before[i]).length, 0, 'every client still streams');
  } finally {
    clearInterval(tick);
    for (const c of clients) c.s.destroy();
  }
});

test('a key that is not the certificate\'s: the old certificate stays, the log and GET /api/tls say why', async () => {
  copyFileSync(certs.other.cert, live.cert); // the key stays the first certificate's
  sluice.process.kill('SIGHUP');
  await until('the refusal logged', () => /TLS reload refused; the certificates loaded before stay in use/.test(sluice.output()));
  assert.is(await servedCn(), 'sluice-test');
  const { body } = await sluice.admin<{ listeners: { listener: string; certificates: { file: string; subject: string; notAfter: string; expiresInDays: number }[] }[]; lastReload: { ok: boolean; error?: string } }>('/api/tls');
  assert.is(body.listeners.length, 1);
  const served = body.listeners[0].certificates[0];
  assert.equal([served.file, served.subject], [live.cert, 'CN=sluice-test']);
  assert.ok(served.expiresInDays >= 28 && served.expiresInDays <= 30, String(served.expiresInDays));
  assert.is(body.lastReload.ok, false);
  assert.match(body.lastReload.error ?? '', /live\.key is not the key of .*live\.pem/);
  assert.not.match(sluice.output(), /PRIVATE KEY/);
});

test.run();
