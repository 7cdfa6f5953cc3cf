// The bench's TLS and WebSocket client (bench/native/tlsgen.c) against small servers in this test: a
// TLS server and WebSocket servers (the `ws` package, plain and over TLS) that answer CONNECT with a
// CONNACK and count what arrives. Certificates from the bench's own maker (bench/lib/certs.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createHttpServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import { makeBenchCerts, type BenchCerts } from '../../bench/lib/certs.ts';
import { runJsonTool, type Json } from '../helpers/json-tool.ts';
import { freePort } from '../helpers/ports.ts';

const nativeDir = new URL('../../bench/native/', import.meta.url).pathname;
const tlsgenBin = join(nativeDir, 'build/tlsgen');
const connack = Buffer.from([0x20, 0x02, 0x00, 0x00]);
const publishLen = (size: number) => 1 + (2 + 7 + size < 128 ? 1 : 2 + 7 + size < 16384 ? 2 : 3) + 2 + 7 + size;

type Counts = { conns: number; open: number; reused: number; bytes: number; connects: number; messages: number; closed: Promise<void>[] };

let dir: string;
let certs: BenchCerts;

test.before(() => {
  const make = spawnSync('make', ['-C', nativeDir], { encoding: 'utf8' });
  assert.is(make.status, 0, `make failed:\n${make.stdout}${make.stderr}`);
  dir = mkdtempSync(join(tmpdir(), 'bench-tlsgen-'));
  certs = makeBenchCerts(dir);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

const newCounts = (): Counts => ({ conns: 0, open: 0, reused: 0, bytes: 0, connects: 0, messages: 0, closed: [] });
const tlsOptions = () => ({ cert: readFileSync(certs.cert), key: readFileSync(certs.key) });

/** A TLS "broker": CONNACK for the CONNECT (the first bytes), then counts every byte after it. */
async function tlsBroker(): Promise<{ server: TlsServer; port: number; counts: Counts }> {
  const counts = newCounts();
  const server = createTlsServer(tlsOptions(), (s: TLSSocket) => {
    counts.conns++;
    counts.open++;
    if (s.isSessionReused()) counts.reused++;
    let first = true;
    s.on('data', (d: Buffer) => {
      if (first) {
        first = false;
        assert.is(d[0], 0x10, 'the first bytes are a CONNECT');
        counts.connects++;
        const connectLen = 2 + d[1];
        counts.bytes += d.length - connectLen;
        s.write(connack);
      } else counts.bytes += d.length;
    });
    counts.closed.push(new Promise((resolve) => s.on('close', () => { counts.open--; resolve(); })));
    s.on('error', () => {});
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { server, port, counts };
}

/** A WebSocket "broker" (subprotocol mqtt, path /mqtt): CONNACK in one binary frame; counts later messages. */
async function wsBroker(secure: boolean): Promise<{ server: Server; port: number; counts: Counts; sizes: Set<number> }> {
  const counts = newCounts();
  const sizes = new Set<number>();
  const server = secure ? createHttpsServer(tlsOptions()) : createHttpServer();
  const wss = new WebSocketServer({ server, path: '/mqtt', handleProtocols: (p) => (p.has('mqtt') ? 'mqtt' : false) });
  wss.on('connection', (ws) => {
    counts.conns++;
    counts.open++;
    let first = true;
    ws.on('message', (d: Buffer, isBinary) => {
      assert.ok(isBinary, 'binary frames');
      if (first) { first = false; counts.connects++; ws.send(connack); return; }
      counts.messages++;
      counts.bytes += d.length;
      sizes.add(d.length);
    });
    counts.closed.push(new Promise((resolve) => ws.on('close', () => { counts.open--; resolve(); })));
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { server, port, counts, sizes };
}

const run = (args: string[]) => runJsonTool(tlsgenBin, args, 15_000);

const close = (s: { close(cb: () => void): void }) => new Promise<void>((r) => s.close(() => r()));

test('handshakes: full handshakes in a loop, each with CONNECT and CONNACK; marks bound the window', async () => {
  const b = await tlsBroker();
  const r = await run(['handshakes', '--target', `127.0.0.1:${b.port}`, '--threads', '2', '--seconds', '0.6', '--warmup', '0.2', '--marks']);
  assert.is(r.code, 0, r.err);
  assert.equal(r.out.map((m) => m.phase ?? m.type), ['start', 'end', 'handshakes']);
  const res = r.out[2];
  assert.ok(res.handshakes > 5, `handshakes: ${res.handshakes}`);
  assert.is(res.resumed, 0);
  assert.is(res.errors, 0);
  await Promise.all(b.counts.closed);
  // Warm-up handshakes are made but not counted.
  assert.ok(b.counts.connects >= res.handshakes, `server saw ${b.counts.connects} CONNECTs, tlsgen counted ${res.handshakes}`);
  assert.is(b.counts.reused, 0);
  await close(b.server);
});

test('handshakes --resume: after each thread\'s first, every handshake resumes the last session', async () => {
  const b = await tlsBroker();
  const r = await run(['handshakes', '--target', `127.0.0.1:${b.port}`, '--threads', '2', '--seconds', '0.6', '--warmup', '0.3', '--resume']);
  assert.is(r.code, 0, r.err);
  const res = r.out[0];
  assert.ok(res.handshakes > 5, `handshakes: ${res.handshakes}`);
  assert.is(res.resumed, res.handshakes);
  await Promise.all(b.counts.closed);
  assert.is(b.counts.reused, b.counts.conns - 2, 'the server resumed all but the two first sessions');
  await close(b.server);
});

test('throughput over TLS: the server counts exactly the MQTT bytes tlsgen reports', async () => {
  const b = await tlsBroker();
  const r = await run(['throughput', '--target', `127.0.0.1:${b.port}`, '--conns', '2', '--size', '16384', '--seconds', '0.5', '--warmup', '0.2']);
  assert.is(r.code, 0, r.err);
  const res = r.out[0];
  await Promise.all(b.counts.closed);
  assert.ok(res.bytes > 1_000_000, `bytes: ${res.bytes}`);
  assert.is(b.counts.bytes, res.bytes);
  assert.is(res.messages * publishLen(16384), res.bytes);
  assert.is(res.errors, 0);
  await close(b.server);
});

for (const transport of ['ws', 'wss'] as const) {
  test(`throughput over ${transport}: one binary frame per PUBLISH, every byte counted`, async () => {
    const b = await wsBroker(transport === 'wss');
    const r = await run(['throughput', '--target', `127.0.0.1:${b.port}`, '--transport', transport, '--conns', '2', '--size', '1000', '--seconds', '0.4', '--warmup', '0.1']);
    assert.is(r.code, 0, r.err);
    const res = r.out[0];
    await Promise.all(b.counts.closed);
    assert.is(b.counts.connects, 2);
    assert.equal([...b.sizes], [publishLen(1000)]);
    assert.is(b.counts.messages, res.messages);
    assert.is(b.counts.bytes, res.bytes);
    await close(b.server);
  });
}

test('idle: TLS connections are held open until stdin says stop', async () => {
  const b = await tlsBroker();
  const child = spawn(tlsgenBin, ['idle', '--target', `127.0.0.1:${b.port}`, '--conns', '30', '--threads', '3', '--hold-seconds', '10'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: Json[] = [];
  const ready = new Promise<Json>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (l) => { const m = JSON.parse(l) as Json; lines.push(m); if (m.type === 'idle-ready') resolve(m); });
  });
  child.stderr!.resume();
  const m = await ready;
  assert.equal([m.conns, m.errors], [30, 0]);
  assert.is(b.counts.open, 30);
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  child.stdin!.end('\n');
  assert.is(await exited, 0);
  await Promise.all(b.counts.closed);
  assert.is(b.counts.open, 0);
  assert.is(lines.at(-1)?.type, 'idle-done');
  await close(b.server);
});

test('bad flags exit 2; a refused target is counted, not a crash', async () => {
  for (const args of [['bogus'], ['handshakes'], ['handshakes', '--target', '10.0.0.1:1'], ['throughput', '--target', '127.0.0.1:1', '--resume'],
    ['handshakes', '--target', '127.0.0.1:1', '--transport', 'quic'], ['handshakes', '--target', '127.0.0.1:1', '--path', 'mqtt']]) {
    const r = await run(args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
  }
  const port = await freePort(); // nothing listens there
  const r = await run(['handshakes', '--target', `127.0.0.1:${port}`, '--threads', '1', '--seconds', '0.3', '--warmup', '0.1']);
  assert.is(r.code, 0, r.err);
  assert.is(r.out[0].handshakes, 0);
  assert.ok(r.out[0].errors > 0);
});

test.run();
