// End to end: a broker with proxy_protocol v2 gets a PROXY v2 header before the CONNECT, with the client's
// real address and port and the address it connected to; a TLS client's header carries the TLS version,
// SNI and its certificate's CN. A broker-side listener in the test checks the bytes exactly. A broker
// without proxy_protocol gets the client's bytes only. A listener with accept_proxy_protocol reads a
// front balancer's v1 or v2 header, and passes what it says on.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { WebSocket } from 'ws';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { freePort } from '../helpers/ports.ts';
import { makeTestCerts, type TestCerts } from '../helpers/certs.ts';
import { connectBytes } from '../helpers/mqtt.ts';
import { proxyV2Header } from '../../src/proxy/v2-header.ts';

/** A broker stand-in: records each connection's bytes until the client's FIN, answers nothing. */
type Recording = { server: Server; port: number; next(): Promise<Buffer> };

async function recordingBroker(): Promise<Recording> {
  const port = await freePort();
  const done: Buffer[] = [];
  const waiting: ((b: Buffer) => void)[] = [];
  const server = createServer({ allowHalfOpen: true }, (s: Socket) => {
    const got: Buffer[] = [];
    s.on('data', (d) => got.push(d));
    s.on('end', () => {
      const all = Buffer.concat(got);
      const w = waiting.shift();
      if (w) w(all);
      else done.push(all);
      s.end();
    });
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return { server, port, next: () => new Promise((resolve) => { const d = done.shift(); if (d) resolve(d); else waiting.push(resolve); }) };
}

let certs: TestCerts;
let withProxy: Recording;
let without: Recording;
let sluice: SluiceProcess;
let sluicePlain: SluiceProcess;
const port = { plain: 0, tls: 0 };

test.before(async () => {
  certs = makeTestCerts();
  withProxy = await recordingBroker();
  without = await recordingBroker();
  port.plain = await freePort();
  port.tls = await freePort();
  sluice = await startSluice({
    workers: 2,
    listeners: [
      { bind: `127.0.0.1:${port.plain}` },
      { bind: `127.0.0.1:${port.tls}`, protocol: 'mqtts', tls: { cert: certs.server.cert, key: certs.server.key, ca: certs.ca, client_auth: 'optional' } },
    ],
    brokers: [{ name: 'pp', address: `127.0.0.1:${withProxy.port}`, proxy_protocol: 'v2' }],
    log: { level: 'warn' },
  });
  sluicePlain = await startSluice({ brokers: [{ name: 'plain', address: `127.0.0.1:${without.port}` }], log: { level: 'warn' } });
});

test.after(async () => {
  await sluice?.stop();
  await sluicePlain?.stop();
  withProxy?.server.close();
  without?.server.close();
  certs?.remove();
});

/** Sends `bytes` and FIN over plain TCP; returns the client's own port. */
function sendPlain(p: number, bytes: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ port: p, host: '127.0.0.1', allowHalfOpen: true }, () => { resolve(s.localPort!); s.end(bytes); });
    s.on('error', reject);
    s.on('end', () => s.destroy());
  });
}

test('plain TCP: the header names the client\'s address and port and the listener\'s, then the CONNECT and what followed, exactly', async () => {
  const bytes = Buffer.concat([connectBytes({ clientId: 'pp-plain', protocolVersion: 5 }), Buffer.from([0xc0, 0x00])]);
  const clientPort = await sendPlain(port.plain, bytes);
  const got = await withProxy.next();
  const header = proxyV2Header({ ip: '127.0.0.1', port: clientPort }, { ip: '127.0.0.1', port: port.plain });
  assert.is(got.subarray(0, header.length).toString('hex'), header.toString('hex'));
  assert.is(got.subarray(header.length).toString('hex'), bytes.toString('hex'));
});

test('TLS with a client certificate: the header carries TLS version, SNI and the certificate CN as TLVs', async () => {
  const bytes = connectBytes({ clientId: 'pp-tls', protocolVersion: 4 });
  const { clientPort, version } = await new Promise<{ clientPort: number; version: string }>((resolve, reject) => {
    const s = tlsConnect({
      host: '127.0.0.1', port: port.tls, servername: 'localhost', ca: readFileSync(certs.ca),
      cert: readFileSync(certs.client.cert), key: readFileSync(certs.client.key),
    }, () => { resolve({ clientPort: s.localPort!, version: s.getProtocol()! }); s.end(bytes); });
    s.on('error', reject);
    s.on('data', () => {});
  });
  const got = await withProxy.next();
  const header = proxyV2Header({ ip: '127.0.0.1', port: clientPort }, { ip: '127.0.0.1', port: port.tls },
    { version, serverName: 'localhost', alpn: undefined, certVerified: true, certPresented: true, certCn: 'device-1' });
  assert.is(got.subarray(0, header.length).toString('hex'), header.toString('hex'));
  assert.ok(got.includes(Buffer.from('device-1')), 'the CN is in the header');
  assert.is(got.subarray(header.length).toString('hex'), bytes.toString('hex'));
});

test('TLS without a client certificate: no CN, verify non-zero', async () => {
  const bytes = connectBytes({ clientId: 'pp-tls-anon', protocolVersion: 4 });
  const { clientPort, version } = await new Promise<{ clientPort: number; version: string }>((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: port.tls, ca: readFileSync(certs.ca), servername: 'localhost' },
      () => { resolve({ clientPort: s.localPort!, version: s.getProtocol()! }); s.end(bytes); });
    s.on('error', reject);
    s.on('data', () => {});
  });
  const got = await withProxy.next();
  const header = proxyV2Header({ ip: '127.0.0.1', port: clientPort }, { ip: '127.0.0.1', port: port.tls },
    { version, serverName: 'localhost', alpn: undefined, certVerified: false, certPresented: false, certCn: undefined });
  assert.is(got.toString('hex'), Buffer.concat([header, bytes]).toString('hex'));
});

test('a broker without proxy_protocol gets the client\'s bytes only', async () => {
  const bytes = connectBytes({ clientId: 'no-pp', protocolVersion: 4 });
  await sendPlain(sluicePlain.port, bytes);
  assert.is((await without.next()).toString('hex'), bytes.toString('hex'));
});

test('a candidate that fails takes its header with it: the next broker gets only what it asked for', async () => {
  // Two brokers each: one that refuses connects, and a live one; the dead one is tried first for about
  // half of the client ids (the consistent hash), so both orders happen.
  const dead = await freePort();
  const a = await startSluice({
    brokers: [{ name: 'dead-pp', address: `127.0.0.1:${dead}`, proxy_protocol: 'v2' }, { name: 'live', address: `127.0.0.1:${without.port}` }],
    log: { level: 'error' },
  });
  const b = await startSluice({
    brokers: [{ name: 'dead', address: `127.0.0.1:${dead}` }, { name: 'live-pp', address: `127.0.0.1:${withProxy.port}`, proxy_protocol: 'v2' }],
    log: { level: 'error' },
  });
  try {
    for (let i = 0; i < 12; i++) {
      const bytes = connectBytes({ clientId: `retry-${i}`, protocolVersion: 4 });
      await sendPlain(a.port, bytes);
      assert.is((await without.next()).toString('hex'), bytes.toString('hex'), `retry-${i} via a`);
      const clientPort = await sendPlain(b.port, bytes);
      const header = proxyV2Header({ ip: '127.0.0.1', port: clientPort }, { ip: '127.0.0.1', port: b.port });
      assert.is((await withProxy.next()).toString('hex'), Buffer.concat([header, bytes]).toString('hex'), `retry-${i} via b`);
    }
    const failures = (await a.admin<{ counters: Record<string, number> }>('/api/stats')).body.counters.broker_connect_failures;
    assert.ok(failures > 0 && failures < 12, `the dead broker was tried first for some clients only (${failures})`);
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('accept_proxy_protocol: a v1 or v2 header from a front balancer (whole or cut byte by byte) names the client; it is passed on as v2, never forwarded itself', async () => {
  const frontPort = await freePort();
  const front = await startSluice({
    listeners: [{ bind: `127.0.0.1:${frontPort}`, accept_proxy_protocol: true }],
    brokers: [{ name: 'pp', address: `127.0.0.1:${withProxy.port}`, proxy_protocol: 'v2' }],
    balance: { strategy: 'sticky', key: ['source-address'] },
    log: { level: 'warn' },
  });
  try {
    const connect = connectBytes({ clientId: 'behind-lb', protocolVersion: 4 });
    const v1 = Buffer.from('PROXY TCP4 192.0.2.44 198.51.100.7 40123 1883\r\n', 'latin1');
    const v2 = proxyV2Header({ ip: '2001:db8::44', port: 40124 }, { ip: '2001:db8::1', port: 8883 });
    for (const [inbound, out] of [
      [v1, proxyV2Header({ ip: '192.0.2.44', port: 40123 }, { ip: '198.51.100.7', port: 1883 })],
      [v2, v2],
    ] as const) {
      for (const cut of [false, true]) {
        const bytes = Buffer.concat([inbound, connect]);
        await new Promise<void>((resolve, reject) => {
          const s = netConnect({ port: frontPort, host: '127.0.0.1', allowHalfOpen: true }, async () => {
            if (cut) for (let i = 0; i < inbound.length + 3; i++) { s.write(bytes.subarray(i, i + 1)); await new Promise((r) => setTimeout(r, 1)); }
            s.end(cut ? bytes.subarray(inbound.length + 3) : bytes);
            resolve();
          });
          s.on('error', reject);
          s.on('end', () => s.destroy());
        });
        assert.is((await withProxy.next()).toString('hex'), Buffer.concat([out, connect]).toString('hex'), `${inbound === v1 ? 'v1' : 'v2'}${cut ? ' cut' : ''}`);
      }
    }
    // The admin view (and the source-address route key) see the client the header names.
    const open = netConnect(frontPort, '127.0.0.1', () => open.write(Buffer.concat([v1, connectBytes({ clientId: 'lb-open', protocolVersion: 4 })])));
    open.on('error', () => {});
    let listed: { remote: string }[] = [];
    for (let i = 0; i < 100 && listed.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      listed = (await front.admin<{ clients: { remote: string }[] }>('/api/clients?client_id=lb-open')).body.clients;
    }
    assert.equal(listed.map((c) => c.remote), ['192.0.2.44:40123']);
    open.destroy();
    await withProxy.next(); // its recording (the broker gets the FIN of the pair's end)
  } finally {
    await front.stop();
  }
});

test('bad input: a broken PROXY header is closed and counted; a PROXY header where none is expected is refused as such', async () => {
  const frontPort = await freePort();
  const front = await startSluice({
    listeners: [{ bind: `127.0.0.1:${frontPort}`, accept_proxy_protocol: true }],
    brokers: [{ name: 'plain', address: `127.0.0.1:${without.port}` }],
    log: { level: 'warn' },
  });
  try {
    const closed = (p: number, bytes: Buffer) => new Promise<string>((resolve) => {
      const s = netConnect(p, '127.0.0.1', () => s.write(bytes));
      let got = '';
      s.on('data', (d) => { got += d.toString('hex'); });
      const t = setTimeout(() => { s.destroy(); resolve('still open'); }, 5000);
      s.once('close', () => { clearTimeout(t); resolve(got); });
      s.on('error', () => {});
    });
    assert.is(await closed(frontPort, Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n', 'latin1')), '', 'closed, nothing sent');
    assert.is(await closed(frontPort, Buffer.concat([connectBytes({ clientId: 'no-header' })])), '', 'a client without the header');
    const stats = (await front.admin<{ counters: Record<string, number> }>('/api/stats')).body.counters;
    assert.is(stats.refused_bad_proxy_header, 2);
    assert.match(front.output(), /bad PROXY header from the front balancer/);
    // sluicePlain's listener does not accept PROXY headers.
    assert.is(await closed(sluicePlain.port, Buffer.concat([Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n', 'latin1'), connectBytes({ clientId: 'x' })])), '');
    const plainStats = (await sluicePlain.admin<{ counters: Record<string, number> }>('/api/stats')).body.counters;
    assert.is(plainStats.refused_unexpected_proxy_header, 1);
    assert.match(sluicePlain.output(), /a PROXY header on a listener without accept_proxy_protocol/);
  } finally {
    await front.stop();
  }
});

test('accept_proxy_protocol on mqtts, ws and wss: the header before the TLS handshake or HTTP upgrade names the client', async () => {
  const p = { mqtts: await freePort(), ws: await freePort(), wss: await freePort() };
  const tls = { cert: certs.server.cert, key: certs.server.key };
  const front = await startSluice({
    listeners: [
      { bind: `127.0.0.1:${p.mqtts}`, protocol: 'mqtts', accept_proxy_protocol: true, tls },
      { bind: `127.0.0.1:${p.ws}`, protocol: 'ws', accept_proxy_protocol: true },
      { bind: `127.0.0.1:${p.wss}`, protocol: 'wss', accept_proxy_protocol: true, tls },
    ],
    brokers: [{ name: 'pp', address: `127.0.0.1:${withProxy.port}`, proxy_protocol: 'v2' }],
    log: { level: 'warn' },
  });
  /** A TCP connection to `port` that has already sent `header`. */
  const tcpWithHeader = (port: number, header: Buffer) => { const s = netConnect(port, '127.0.0.1'); s.write(header); return s; };
  const header = (i: number) => Buffer.from(`PROXY TCP4 203.0.113.${i} 198.51.100.9 5000${i} 443\r\n`, 'latin1');
  const named = (i: number) => ({ source: { ip: `203.0.113.${i}`, port: 50000 + i }, destination: { ip: '198.51.100.9', port: 443 } });
  try {
    // mqtts: TLS over the TCP connection that carried the header.
    const connect = connectBytes({ clientId: 'front-tls', protocolVersion: 4 });
    const version = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ socket: tcpWithHeader(p.mqtts, header(1)), servername: 'localhost', ca: readFileSync(certs.ca) }, () => { resolve(s.getProtocol()!); s.end(connect); });
      s.on('error', reject);
      s.on('data', () => {});
    });
    const tlsFacts = { version, serverName: 'localhost', alpn: undefined, certVerified: false, certPresented: false, certCn: undefined };
    assert.is((await withProxy.next()).toString('hex'), Buffer.concat([proxyV2Header(named(1).source, named(1).destination, tlsFacts), connect]).toString('hex'), 'mqtts');
    // ws and wss: the ws client over a connection that carried the header.
    for (const [kind, i] of [['ws', 2], ['wss', 3]] as const) {
      const mqttBytes = connectBytes({ clientId: `front-${kind}`, protocolVersion: 4 });
      const ws = new WebSocket(`${kind}://127.0.0.1:${p[kind]}/mqtt`, ['mqtt'], {
        createConnection: () => (kind === 'ws' ? tcpWithHeader(p.ws, header(i)) : tlsConnect({ socket: tcpWithHeader(p.wss, header(i)), servername: 'localhost', ca: readFileSync(certs.ca) })),
      });
      await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
      ws.send(mqttBytes);
      // Once the client is forwarded (listed), closing it ends the pair: the broker gets FIN, the recording is done.
      for (let k = 0; k < 200; k++) {
        const { body } = await front.admin<{ clients: unknown[] }>(`/api/clients?client_id=front-${kind}`);
        if (body.clients.length === 1) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      ws.close();
      const got = await withProxy.next();
      const h = got.subarray(0, got.length - mqttBytes.length);
      assert.is(got.subarray(h.length).toString('hex'), mqttBytes.toString('hex'), `${kind}: the CONNECT`);
      const src = h.subarray(16, 20).join('.');
      assert.is(src, `203.0.113.${i}`, `${kind}: the header names the client`);
      assert.is(h.readUInt16BE(24), 50000 + i);
    }
    // A bad header before TLS: closed, counted before MQTT (no connections_accepted).
    const before = (await front.admin<{ counters: Record<string, number> }>('/api/stats')).body.counters;
    await new Promise<void>((resolve) => {
      const s = tcpWithHeader(p.mqtts, Buffer.from('PROXY TCP4 nonsense\r\n', 'latin1'));
      s.on('error', () => {});
      s.once('close', () => resolve());
    });
    const after = (await front.admin<{ counters: Record<string, number> }>('/api/stats')).body.counters;
    assert.is(after.front_bad_proxy_header - before.front_bad_proxy_header, 1);
    assert.is(after.connections_accepted, before.connections_accepted);
  } finally {
    await front.stop();
  }
});

test.run();
