// End to end: TLS listeners (protocol mqtts) in front of real Mosquitto brokers, with real clients
// (mosquitto_pub/mosquitto_sub, MQTT.js, Node's TLS client): certificates made by openssl for this run.
// A client is placed the same way over TLS as over plain TCP; SNI picks the certificate; client
// certificates are required, optional or not asked for; each bad handshake has its counter and log line.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import mqtt from 'mqtt';
import { startMosquittos, type MosquittoCluster } from '../helpers/mosquitto.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { freePort } from '../helpers/ports.ts';
import { makeTestCerts, type TestCerts } from '../helpers/certs.ts';
import { connectBytes } from '../helpers/mqtt.ts';
import { stats, unaccounted, waitForStats } from '../helpers/stats.ts';
import { listedClient } from '../helpers/clients.ts';

let certs: TestCerts;
let cluster: MosquittoCluster;
let sluice: SluiceProcess;
const port = { plain: 0, tls: 0, mtls: 0, optional: 0, identity: 0 };

test.before(async () => {
  certs = makeTestCerts();
  cluster = await startMosquittos(3);
  for (const k of Object.keys(port) as (keyof typeof port)[]) port[k] = await freePort();
  sluice = await startSluice({
    workers: 2,
    listeners: [
      { bind: `127.0.0.1:${port.plain}` },
      { bind: `127.0.0.1:${port.tls}`, protocol: 'mqtts', tls: { cert: certs.server.cert, key: certs.server.key, handshake_timeout: '600ms' } },
      { bind: `127.0.0.1:${port.mtls}`, protocol: 'mqtts', tls: { cert: certs.server.cert, key: certs.server.key, ca: certs.ca, client_auth: 'required' } },
      {
        bind: `127.0.0.1:${port.optional}`, protocol: 'mqtts',
        tls: { cert: [certs.server.cert, certs.other.cert], key: [certs.server.key, certs.other.key], ca: certs.ca, client_auth: 'optional', min_version: 'TLSv1.3' },
      },
      {
        bind: `127.0.0.1:${port.identity}`, protocol: 'mqtts', client_id_must_match: 'cert-cn',
        tls: { cert: certs.server.cert, key: certs.server.key, ca: certs.ca, client_auth: 'required' },
      },
    ],
    brokers: cluster.brokers.map((b) => ({ name: b.name, address: b.address })),
    balance: { strategy: 'sticky', key: ['cert-cn', 'username', 'client-id'] },
    log: { level: 'warn' },
  });
});

test.after(async () => {
  await sluice?.stop();
  await cluster?.stop();
  certs?.remove();
});

const brokerOf = async (clientId: string) => (await listedClient(sluice, clientId)).broker;

/** A TLS handshake with Node's client: the server's certificate CN, or the error that ended it. */
function handshake(p: number, opts: ConnectionOptions): Promise<{ cn?: string | string[]; error?: string; closedAfter?: boolean }> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port: p, ca: readFileSync(certs.ca), ...opts });
    s.once('secureConnect', () => {
      const cn = s.getPeerCertificate().subject?.CN;
      // A refused client certificate: the server closes right after the handshake.
      s.write(connectBytes({ clientId: 'tls-probe' }));
      const t = setTimeout(() => { s.destroy(); resolve({ cn, closedAfter: false }); }, 1500);
      s.once('close', () => { clearTimeout(t); resolve({ cn, closedAfter: true }); });
      s.on('data', () => { clearTimeout(t); s.destroy(); resolve({ cn, closedAfter: false }); });
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}

test('mosquitto_sub and mosquitto_pub over TLS (--cafile): the message arrives', async () => {
  const tlsArgs = ['-h', '127.0.0.1', '-p', String(port.tls), '--cafile', certs.ca, '-V', 'mqttv5', '-u', 'tls-fleet'];
  const sub = spawn('mosquitto_sub', [...tlsArgs, '-i', 'tls-sub', '-t', 'tls/#', '-q', '1', '-C', '1', '-W', '10', '-v']);
  let out = '';
  sub.stdout.on('data', (d) => { out += d; });
  sub.stderr.on('data', (d) => { out += d; });
  const exited = new Promise<number | null>((resolve) => sub.on('exit', (code) => resolve(code)));
  await brokerOf('tls-sub');
  await new Promise((r) => setTimeout(r, 200)); // the SUBSCRIBE follows the CONNECT
  // The same username: the publisher is placed on the subscriber's broker (the brokers are not bridged).
  const pub = spawnSync('mosquitto_pub', [...tlsArgs, '-i', 'tls-pub', '-t', 'tls/hello', '-m', 'over-tls', '-q', '1'], { encoding: 'utf8', timeout: 10_000 });
  assert.is(pub.status, 0, pub.stderr);
  assert.is(await exited, 0, `mosquitto_sub: ${out}`);
  assert.is(out.trim(), 'tls/hello over-tls');
});

test('one client id lands on the same broker over plain TCP and over TLS (MQTT.js)', async () => {
  for (let i = 0; i < 5; i++) {
    const clientId = `same-everywhere-${i}`;
    const plain = await mqtt.connectAsync(`mqtt://127.0.0.1:${port.plain}`, { clientId, reconnectPeriod: 0, clean: false, protocolVersion: 4 });
    const viaPlain = await brokerOf(clientId);
    await plain.endAsync();
    const secure = await mqtt.connectAsync(`mqtts://127.0.0.1:${port.tls}`, { clientId, ca: readFileSync(certs.ca), reconnectPeriod: 0, clean: false, protocolVersion: 4 });
    const viaTls = await brokerOf(clientId);
    await secure.endAsync();
    assert.is(viaTls, viaPlain, clientId);
  }
});

test('plain MQTT sent to a TLS port: closed, counted as a failed handshake, logged', async () => {
  const before = await stats(sluice);
  const closed = await new Promise<boolean>((resolve) => {
    const s = netConnect(port.tls, '127.0.0.1', () => s.write(connectBytes({ clientId: 'plain-on-tls' })));
    const t = setTimeout(() => { s.destroy(); resolve(false); }, 5000);
    s.on('data', () => {}); // a TLS alert may come first
    s.once('close', () => { clearTimeout(t); resolve(true); });
    s.on('error', () => {});
  });
  assert.ok(closed, 'Sluice closed the connection');
  await waitForStats(sluice, (x) => x.counters.tls_handshake_failed === before.counters.tls_handshake_failed + 1, 'tls_handshake_failed + 1');
  assert.match(sluice.output(), /TLS handshake failed/);
});

test('a client that opens TCP and never starts TLS is closed at tls.handshake_timeout', async () => {
  const before = await stats(sluice);
  const started = Date.now();
  const closedAfterMs = await new Promise<number>((resolve) => {
    const s = netConnect(port.tls, '127.0.0.1');
    const t = setTimeout(() => { s.destroy(); resolve(-1); }, 5000);
    s.once('close', () => { clearTimeout(t); resolve(Date.now() - started); });
    s.on('error', () => {});
  });
  assert.ok(closedAfterMs >= 500 && closedAfterMs < 4000, `closed after ${closedAfterMs} ms (timeout 600ms)`);
  await waitForStats(sluice, (x) => x.counters.tls_handshake_timeout === before.counters.tls_handshake_timeout + 1, 'tls_handshake_timeout + 1');
});

test('client_auth required: a CA-signed client certificate is served; none, expired or untrusted are refused and counted', async () => {
  const ok = spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port.mtls), '--cafile', certs.ca, '--cert', certs.client.cert,
    '--key', certs.client.key, '-i', 'device-1', '-t', 'm/1', '-m', 'x', '-q', '1'], { encoding: 'utf8', timeout: 10_000 });
  assert.is(ok.status, 0, ok.stderr);

  const before = await stats(sluice);
  const cases: [string, ConnectionOptions][] = [
    ['none', {}],
    ['expired', { cert: readFileSync(certs.expiredClient.cert), key: readFileSync(certs.expiredClient.key) }],
    ['untrusted', { cert: readFileSync(certs.strangerClient.cert), key: readFileSync(certs.strangerClient.key) }],
  ];
  for (const [what, opts] of cases) {
    const r = await handshake(port.mtls, opts);
    assert.ok(r.error !== undefined || r.closedAfter === true, `${what}: ${JSON.stringify(r)}`);
  }
  const after = await waitForStats(sluice, (x) => x.counters.tls_client_cert_rejected === before.counters.tls_client_cert_rejected + 3, 'three refusals');
  assert.is(after.counters.connections_accepted, before.counters.connections_accepted, 'no refused client reached the CONNECT reader');
  const log = sluice.output();
  assert.match(log, /no client certificate/);
  assert.match(log, /CERT_HAS_EXPIRED/);
  assert.ok(!/BEGIN (EC )?PRIVATE KEY/.test(log), 'no key material in the log');
});

test('client_auth optional: no certificate is fine, an untrusted one is refused; SNI picks the certificate', async () => {
  const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${port.optional}`, { clientId: 'no-cert', ca: readFileSync(certs.ca), reconnectPeriod: 0 });
  assert.ok(c.connected);
  await c.endAsync();
  const stranger = await handshake(port.optional, { cert: readFileSync(certs.strangerClient.cert), key: readFileSync(certs.strangerClient.key) });
  assert.ok(stranger.error !== undefined || stranger.closedAfter === true, JSON.stringify(stranger));

  assert.is((await handshake(port.optional, {})).cn, 'sluice-test', 'no SNI: the first (default) certificate');
  assert.is((await handshake(port.optional, { servername: 'localhost' })).cn, 'sluice-test');
  assert.is((await handshake(port.optional, { servername: 'other.test' })).cn, 'other.test');
  assert.is((await handshake(port.optional, { servername: 'unknown.test', checkServerIdentity: () => undefined })).cn, 'sluice-test', 'an unknown name gets the default');
});

test('min_version TLSv1.3: a TLS 1.2 client fails the handshake (counted)', async () => {
  const before = await stats(sluice);
  const r = await handshake(port.optional, { maxVersion: 'TLSv1.2' });
  assert.ok(r.error !== undefined, JSON.stringify(r));
  await waitForStats(sluice, (x) => x.counters.tls_handshake_failed === before.counters.tls_handshake_failed + 1, 'tls_handshake_failed + 1');
});

test('sluice check shows each TLS listener\'s certificates; a key that is not the certificate\'s stops the start (exit 2)', () => {
  const cli = new URL('../../src/cli.ts', import.meta.url).pathname;
  const run = (tls: Record<string, unknown>) => {
    const file = join(certs.dir, 'check.yaml');
    writeFileSync(file, stringify({ brokers: [{ name: 'a', address: '127.0.0.1:1884' }], listeners: [{ bind: '127.0.0.1:8883', protocol: 'mqtts', tls }] }));
    return spawnSync(process.execPath, [cli, 'check', '--config', file], { encoding: 'utf8', timeout: 20_000 });
  };
  // Relative paths: from the config file's directory.
  const ok = run({ cert: ['server.pem', 'other.pem'], key: ['server.key', 'other.key'] });
  assert.is(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /listen: mqtts 127\.0\.0\.1:8883, TLS TLSv1\.2\+, client certificates none/);
  assert.match(ok.stdout, /certificate \(default\): .*server\.pem: CN=sluice-test, for 127\.0\.0\.1, localhost, valid until 20/);
  assert.match(ok.stdout, /certificate: .*other\.pem: CN=other\.test, for other\.test/);
  const bad = run({ cert: 'server.pem', key: 'other.key' });
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /SLUICE_ERR_CONFIG: .*check\.yaml is invalid:\n {2}listeners\[0\]\.tls: .*other\.key is not the key of .*server\.pem/);
  assert.not.match(bad.stderr + ok.stdout, /PRIVATE KEY/);
});

/** Sends one CONNECT over TLS with the valid client certificate (CN=device-1); returns what came back. */
function connectOverTls(p: number, clientId: string, protocolVersion: 4 | 5): Promise<Buffer> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port: p, ca: readFileSync(certs.ca), cert: readFileSync(certs.client.cert), key: readFileSync(certs.client.key) });
    const got: Buffer[] = [];
    s.once('secureConnect', () => s.write(connectBytes({ clientId, protocolVersion })));
    s.on('data', (d) => got.push(d));
    const t = setTimeout(() => s.destroy(), 5000);
    s.once('close', () => { clearTimeout(t); resolve(Buffer.concat(got)); });
    s.on('error', () => {});
  });
}

test('client_id_must_match cert-cn: the certificate\'s own id is served; another gets CONNACK 0x02 (3.1.1) / 0x85 (5.0), counted and logged', async () => {
  const ok = spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port.identity), '--cafile', certs.ca, '--cert', certs.client.cert,
    '--key', certs.client.key, '-i', 'device-1', '-t', 'm/1', '-m', 'x', '-q', '1', '-V', 'mqttv5'], { encoding: 'utf8', timeout: 10_000 });
  assert.is(ok.status, 0, ok.stderr);
  const before = await stats(sluice);
  assert.equal([...await connectOverTls(port.identity, 'device-2', 4)], [0x20, 0x02, 0x00, 0x02]);
  assert.equal([...await connectOverTls(port.identity, 'device-2', 5)], [0x20, 0x03, 0x00, 0x85, 0x00]);
  assert.equal([...await connectOverTls(port.identity, '', 5)], [0x20, 0x03, 0x00, 0x85, 0x00], 'an empty client id is not the CN either');
  await waitForStats(sluice, (x) => x.counters.refused_client_id_mismatch === before.counters.refused_client_id_mismatch + 3, 'three refusals');
  assert.match(sluice.output(), /client id is not the client certificate's CN.*"clientId":"device-2".*"certCn":"device-1"|"clientId":"device-2".*"certCn":"device-1".*client id is not the client certificate's CN/);
});

test('balance.key cert-cn: every connection with one certificate lands on one broker, whatever its client id', async () => {
  const brokers = new Set<string>();
  for (let i = 0; i < 8; i++) {
    const clientId = `any-id-${i}`;
    const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${port.optional}`, {
      clientId, ca: readFileSync(certs.ca), cert: readFileSync(certs.client.cert), key: readFileSync(certs.client.key), reconnectPeriod: 0,
    });
    brokers.add(await brokerOf(clientId));
    await c.endAsync();
  }
  assert.is(brokers.size, 1, [...brokers].join(', '));
});

test('TLS sessions resume whichever worker takes the reconnect (shared ticket keys)', async () => {
  let session: Buffer | undefined;
  const workers = new Set<number>();
  let resumed = 0;
  const attempts = 16;
  for (let i = 0; i < attempts; i++) {
    const clientId = `resume-${i}`;
    // Kept open until the admin view has named its worker.
    const s = await new Promise<TLSSocket>((resolve, reject) => {
      const c = tlsConnect({ host: '127.0.0.1', port: port.tls, ca: readFileSync(certs.ca), session });
      c.on('session', (sess: Buffer) => { session = sess; });
      c.once('secureConnect', () => c.write(connectBytes({ clientId, protocolVersion: 4 })));
      c.once('data', () => resolve(c)); // the CONNACK
      c.once('error', reject);
    });
    workers.add((await listedClient(sluice, clientId)).worker);
    if (s.isSessionReused()) resumed++;
    s.end();
    await new Promise((r) => setTimeout(r, 10)); // the ticket arrives after the handshake
  }
  assert.is(resumed, attempts - 1, 'every reconnect resumed (the first is a full handshake)');
  assert.is(workers.size, 2, 'the reconnects went to both workers');
});

test('every accepted connection has an outcome', async () => {
  // A snapshot taken while the last connection ends can miss it between two reads: polled until quiet.
  await waitForStats(sluice, (x) => x.openClients === 0 && x.pendingClients === 0 && unaccounted(x) === 0, 'every connection accounted for');
});

test.run();
