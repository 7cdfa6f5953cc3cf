// The bench's native tools (bench/native: loadgen, sink) built with make and run against each other on loopback.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { runJsonTool, type Json } from '../helpers/json-tool.ts';
import { freePort } from '../helpers/ports.ts';

const nativeDir = new URL('../../bench/native/', import.meta.url).pathname;
const sinkBin = join(nativeDir, 'build/sink');
const loadgenBin = join(nativeDir, 'build/loadgen');
const proxyBin = join(nativeDir, 'build/splice-proxy');
const runTimeoutMs = 15_000;

type PortStats = { port: number; connections: number; active: number; bytes: number; packets: number; publishes: number };

/** A running sink: every stdout line must be one JSON object; `ask` writes a command and awaits its answer. */
type Sink = { ports: number[]; lines: string[]; ask(cmd: 'stats' | 'ids'): Promise<Json>; stop(): Promise<number | null> };

async function startSink(mode: 'sink' | 'echo', portCount: number): Promise<Sink> {
  const ports: number[] = [];
  for (let i = 0; i < portCount; i++) ports.push(await freePort());
  const child = spawn(sinkBin, ['--ports', ports.join(','), '--mode', mode], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiting: ((m: Json) => void)[] = [];
  let onReady!: () => void;
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    child.once('exit', (code) => reject(new Error(`sink exited (${code}) before ready`)));
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    const m = JSON.parse(line) as Json; // a non-JSON line fails the test run loudly
    if (m.type === 'ready') onReady();
    else waiting.shift()?.(m);
  });
  child.stderr!.resume();
  await ready;
  return {
    ports,
    lines,
    ask: (cmd) => new Promise((resolve) => { waiting.push(resolve); child.stdin!.write(`${cmd}\n`); }),
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) { resolve(child.exitCode); return; }
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', (code) => { clearTimeout(kill); resolve(code); });
      child.stdin!.end(); // stdin EOF is one of the sink's exits
    }),
  };
}

/** Runs loadgen to completion; returns its exit code and parsed stdout lines. */
const runLoadgen = (args: string[]) => runJsonTool(loadgenBin, args, runTimeoutMs);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls sink stats until the port has no open connection left, so every byte sent has been read. */
async function settledStats(sink: Sink, port: number): Promise<PortStats> {
  let s: PortStats | undefined;
  for (let i = 0; i < 100; i++) {
    const m = await sink.ask('stats');
    s = (m.ports as PortStats[]).find((p) => p.port === port);
    if (s && s.active === 0) return s;
    await sleep(50);
  }
  throw new Error(`sink port ${port} still has open connections: ${JSON.stringify(s)}`);
}

let sink: Sink;
let echo: Sink;
let tmp: string;

test.before(async () => {
  const make = spawnSync('make', ['-C', nativeDir], { encoding: 'utf8' });
  assert.is(make.status, 0, `make failed:\n${make.stdout}${make.stderr}`);
  sink = await startSink('sink', 3);
  echo = await startSink('echo', 1);
  tmp = mkdtempSync(join(tmpdir(), 'bench-native-'));
});

test.after(async () => {
  await sink?.stop();
  await echo?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('sink answers with one ready line listing its ports', () => {
  assert.equal(JSON.parse(sink.lines[0]), { type: 'ready', ports: sink.ports });
  assert.equal(JSON.parse(echo.lines[0]), { type: 'ready', ports: echo.ports });
});

test('throughput: the sink counts exactly the PUBLISH packets loadgen reports as sent', async () => {
  const port = sink.ports[0];
  const r = await runLoadgen(['throughput', '--target', `127.0.0.1:${port}`, '--conns', '2', '--size', '64', '--seconds', '1']);
  assert.is(r.code, 0, r.err);
  assert.is(r.out.length, 1);
  const res = r.out[0];
  assert.is(res.type, 'throughput');
  assert.is(res.conns, 2);
  assert.is(res.size, 64);
  assert.is(res.connect_errors, 0);
  assert.ok(res.bytes > 0 && res.messages > 0);
  // 64-byte payload + 7-byte topic + 2-byte topic length + 2-byte fixed header = 75 bytes per packet.
  // Whole packets per connection: the sum of two floors is the floor of the sum, or one less.
  const whole = Math.floor(res.bytes / 75);
  assert.ok(res.messages === whole || res.messages === whole - 1, `${res.messages} messages for ${res.bytes} bytes`);
  const s = await settledStats(sink, port);
  assert.is(s.connections, 2);
  assert.is(s.publishes, res.messages);
  assert.is(s.packets, res.messages);
  assert.is(s.bytes, res.bytes, 'every byte loadgen counted arrived (bytes after CONNECT)');
});

test('connrate: ids cycle over exactly N values and every connection leaves one latency sample', async () => {
  const port = sink.ports[1];
  const file = join(tmp, 'connrate.bin');
  const r = await runLoadgen(['connrate', '--target', `127.0.0.1:${port}`, '--inflight', '4', '--seconds', '1', '--ids', '5',
    '--id-prefix', 'cr-', '--latency-out', file]);
  assert.is(r.code, 0, r.err);
  const res = r.out[0];
  assert.is(res.type, 'connrate');
  assert.is(res.errors, 0);
  assert.ok(res.connections >= 5, `connections ${res.connections}`);
  assert.is(res.samples, res.connections);
  assert.is(statSync(file).size, 4 * res.connections);
  await settledStats(sink, port);
  const ids = (await sink.ask('ids')).ports.find((p: Json) => p.port === port);
  assert.equal([...ids.ids].sort(), ['cr-0', 'cr-1', 'cr-2', 'cr-3', 'cr-4']);
  assert.is(ids.overflow, 0);
  const after = (await sink.ask('ids')).ports.find((p: Json) => p.port === port);
  assert.equal(after.ids, [], 'ids are cleared after being reported');
});

test('connrate --warmup: connections of the warmup are made but not counted; marks bound the window', async () => {
  const port = sink.ports[1];
  const before = await settledStats(sink, port);
  const r = await runLoadgen(['connrate', '--target', `127.0.0.1:${port}`, '--inflight', '2', '--seconds', '0.5', '--ids', '3',
    '--warmup', '0.5', '--marks']);
  assert.is(r.code, 0, r.err);
  const marks = r.out.filter((m: Json) => m.type === 'window');
  assert.equal(marks.map((m: Json) => m.phase), ['start', 'end']);
  assert.ok(Math.abs((marks[1].time_ns - marks[0].time_ns) / 1e9 - 0.5) < 0.01, 'window of 0.5 s');
  const res = r.out.find((m: Json) => m.type === 'connrate')!;
  assert.is(res.errors, 0);
  assert.ok(res.seconds > 0.45 && res.seconds < 0.6, `seconds ${res.seconds}`);
  const made = (await settledStats(sink, port)).connections - before.connections;
  // About half the connections fall in the warmup: the sink saw them, the result does not count them.
  assert.ok(res.connections > 0 && made > res.connections * 1.3, `counted ${res.connections} of ${made} made`);
});

test('latency: every paced PUBLISH comes back from the echo sink with an RTT sample', async () => {
  const file = join(tmp, 'latency.bin');
  const r = await runLoadgen(['latency', '--target', `127.0.0.1:${echo.ports[0]}`, '--rate', '200', '--size', '64', '--seconds', '1',
    '--latency-out', file]);
  assert.is(r.code, 0, r.err);
  const res = r.out[0];
  assert.is(res.type, 'latency');
  assert.ok(res.sent > 100, `sent ${res.sent}`);
  assert.ok(res.received <= res.sent && res.received >= res.sent - 2, `sent ${res.sent}, received ${res.received}`);
  assert.is(res.samples, res.received);
  assert.is(statSync(file).size, 4 * res.received);
  const s = await settledStats(echo, echo.ports[0]);
  assert.is(s.publishes, res.sent, 'the echo sink counted every PUBLISH');
});

test('latency, many connections: 50 connections at 500 msg/s for 1 s give ~500 RTT samples; warmup not counted', async () => {
  const file = join(tmp, 'latency-many.bin');
  const before = (await echo.ask('stats')).ports[0] as PortStats;
  const r = await runLoadgen(['latency', '--target', `127.0.0.1:${echo.ports[0]}`, '--conns', '50', '--rate', '500', '--size', '100',
    '--seconds', '1', '--warmup', '0.3', '--tick-us', '250', '--marks', '--sources', '127.0.0.2-127.0.0.20', '--latency-out', file]);
  assert.is(r.code, 0, r.err);
  // --marks: the window opens, closes, then the result; exactly --seconds apart, after the warmup.
  assert.equal(r.out.map((m) => m.type === 'window' ? m.phase : m.type), ['start', 'end', 'latency']);
  assert.is(r.out[1].time_ns - r.out[0].time_ns, 1e9);
  const res = r.out[2];
  assert.is(res.connect_errors, 0);
  assert.is(res.skipped, 0);
  assert.ok(Math.abs(res.sent - 500) <= 3, `sent ${res.sent} in the 1 s window (500 msg/s)`);
  assert.is(res.received, res.sent, 'every message sent in the window came back');
  assert.is(res.samples, res.received);
  assert.is(statSync(file).size, 4 * res.received);
  const s = await settledStats(echo, echo.ports[0]);
  assert.is(s.connections - before.connections, 50);
  // The warmup's messages (0.3 s x 500/s) were echoed too, only not counted.
  const echoed = s.publishes - before.publishes;
  assert.ok(echoed >= res.sent + 140 && echoed <= res.sent + 160, `echoed ${echoed}, counted ${res.sent}`);
});

test('throughput --per-write 16: every send() carries at most 16 whole packets; the sink counts them all', async () => {
  const port = sink.ports[0];
  const before = (await sink.ask('stats')).ports.find((p: Json) => p.port === port) as PortStats;
  const r = await runLoadgen(['throughput', '--target', `127.0.0.1:${port}`, '--conns', '8', '--size', '64', '--per-write', '16', '--seconds', '1']);
  assert.is(r.code, 0, r.err);
  const res = r.out[0];
  assert.is(res.per_write, 16);
  assert.is(res.connect_errors, 0);
  assert.ok(res.sends > 0 && res.messages > 0);
  // A short send is completed by the next one, so a few groups take two calls: at most 16 per call.
  const perSend = res.messages / res.sends;
  assert.ok(perSend <= 16 && perSend > 12, `${perSend} messages per send()`);
  const s = await settledStats(sink, port);
  assert.is(s.publishes - before.publishes, res.messages);
  assert.is(s.bytes - before.bytes, res.bytes);
});

test('idle: 50 connections are held open until stdin says stop', async () => {
  const port = sink.ports[2];
  const child = spawn(loadgenBin, ['idle', '--target', `127.0.0.1:${port}`, '--conns', '50', '--hold-seconds', '10'], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stderr!.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const kill = setTimeout(() => child.kill('SIGKILL'), runTimeoutMs);
  const lines = createInterface({ input: child.stdout! });
  const got: Json[] = [];
  lines.on('line', (l) => got.push(JSON.parse(l) as Json));
  for (let i = 0; i < 200 && got.length === 0; i++) await sleep(25);
  assert.equal(got[0], { type: 'idle-ready', conns: 50, errors: 0 });
  const held = (await sink.ask('stats')).ports.find((p: Json) => p.port === port);
  assert.is(held.connections, 50);
  assert.is(held.active, 50);
  child.stdin!.end('\n');
  assert.is(await exited, 0);
  clearTimeout(kill);
  assert.equal(got[1], { type: 'idle-done', lost: 0 });
  const s = await settledStats(sink, port);
  assert.is(s.connections, 50);
  assert.is(s.packets, 50, 'one DISCONNECT per connection');
});

test('bad flags and impossible counts exit 2', async () => {
  assert.is((await runLoadgen(['throughput', '--target', '127.0.0.1:1', '--conns', '1'])).code, 2, 'missing flags');
  assert.is((await runLoadgen(['throughput', '--target', '10.0.0.1:1883', '--conns', '1', '--size', '1', '--seconds', '1'])).code, 2, 'non-loopback');
  assert.is((await runLoadgen(['connrate', '--target', '127.0.0.1:1', '--inflight', '1', '--seconds', '1', '--ids', '1', '--rate', '1'])).code, 2, 'flag of another mode');
  assert.is((await runLoadgen(['throughput', '--target', '127.0.0.1:1', '--conns', '1', '--size', '1', '--seconds', '1', '--marks'])).code, 2, '--marks is latency only');
  assert.is((await runLoadgen(['latency', '--target', '127.0.0.1:1', '--rate', '1', '--size', '8', '--seconds', '1', '--marks=1'])).code, 2, '--marks takes no value');
  assert.is((await runLoadgen(['throughput', '--target', '127.0.0.1:1', '--conns', '1', '--size', '1', '--seconds', '1', '--per-write', '0'])).code, 2, 'per-write 0');
  assert.is((await runLoadgen(['latency', '--target', '127.0.0.1:1', '--rate', '1', '--size', '8', '--seconds', '1', '--tick-us', '5'])).code, 2, 'tick under 10 us');
  const tooMany = await runLoadgen(['idle', '--target', '127.0.0.1:1', '--conns', '10000000']);
  assert.is(tooMany.code, 2);
  assert.match(tooMany.err, /open files/);
  assert.is(spawnSync(sinkBin, ['--ports', '40000']).status, 2, 'port in the ephemeral range');
  assert.is(spawnSync(sinkBin, ['--mode', 'sink']).status, 2, 'no ports');
});

test('every sink stdout line is one JSON object with a type', () => {
  for (const line of [...sink.lines, ...echo.lines]) {
    const m = JSON.parse(line);
    assert.type(m, 'object');
    assert.type(m.type, 'string');
  }
  assert.ok(sink.lines.length > 3);
});

// ---------------------------------------------------------------- splice-proxy

type Proxy = { port: number; stop(): Promise<number | null> };

/** Starts splice-proxy in front of the given backend ports and waits for its ready line. */
async function startProxy(backendPorts: number[]): Promise<Proxy> {
  const port = await freePort();
  const child = spawn(proxyBin, ['--listen', `127.0.0.1:${port}`, '--backends', backendPorts.map((p) => `127.0.0.1:${p}`).join(',')],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.resume();
  const first = await new Promise<Json>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`splice-proxy exited (${code}) before ready`)));
    createInterface({ input: child.stdout! }).once('line', (line) => resolve(JSON.parse(line) as Json));
  });
  assert.equal(first, { type: 'ready', port });
  return {
    port,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) { resolve(child.exitCode); return; }
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', (code) => { clearTimeout(kill); resolve(code); });
      child.kill('SIGTERM');
    }),
  };
}

/** MQTT 3.1.1 CONNECT, clean session, keepalive 0, client id `pxe` (15 bytes of remaining length). */
const connectPacket = Buffer.from([0x10, 15, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 0, 0, 3, 0x70, 0x78, 0x65]);

/** Sends CONNECT + data, half-closes, and collects everything that comes back until the proxy closes. */
function exchange(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('no close within 10 s')); }, 10_000);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', (e) => { clearTimeout(timer); reject(e); });
    socket.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks)); });
    socket.write(connectPacket);
    socket.end(data); // our FIN must reach the echo sink, and its FIN must come back
  });
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('splice-proxy: 8 MiB of random bytes come back byte-exact through an echo sink, FIN both ways', async () => {
  const backend = await startSink('echo', 1);
  const proxy = await startProxy(backend.ports);
  try {
    const data = randomBytes(8 << 20);
    const back = await exchange(proxy.port, data);
    assert.equal([...back.subarray(0, 4)], [0x20, 0x02, 0x00, 0x00], 'CONNACK first');
    assert.is(back.length - 4, data.length);
    assert.is(sha256(back.subarray(4)), sha256(data));
    const s = await settledStats(backend, backend.ports[0]);
    assert.is(s.connections, 1);
    assert.is(s.bytes, data.length, 'the backend saw every byte after CONNECT');
  } finally {
    assert.is(await proxy.stop(), 0, 'SIGTERM exits 0');
    await backend.stop();
  }
});

test('splice-proxy: the sink counts exactly the PUBLISH packets loadgen sent through the proxy', async () => {
  const backend = await startSink('sink', 1);
  const proxy = await startProxy(backend.ports);
  try {
    const r = await runLoadgen(['throughput', '--target', `127.0.0.1:${proxy.port}`, '--conns', '4', '--size', '1024', '--seconds', '1']);
    assert.is(r.code, 0, r.err);
    const res = r.out[0];
    assert.is(res.connect_errors, 0);
    assert.ok(res.messages > 0);
    const s = await settledStats(backend, backend.ports[0]); // the proxy passed each close on to the backend
    assert.is(s.connections, 4);
    assert.is(s.publishes, res.messages);
    assert.is(s.bytes, res.bytes);
  } finally {
    await proxy.stop();
    await backend.stop();
  }
});

test('splice-proxy: 10 connections alternate over 2 backends, every CONNACK comes back', async () => {
  const backend = await startSink('sink', 2);
  const proxy = await startProxy(backend.ports);
  try {
    const r = await runLoadgen(['idle', '--target', `127.0.0.1:${proxy.port}`, '--conns', '10', '--hold-seconds', '0.5']);
    assert.is(r.code, 0, r.err);
    assert.equal(r.out[0], { type: 'idle-ready', conns: 10, errors: 0 });
    assert.equal(r.out[1], { type: 'idle-done', lost: 0 });
    const a = await settledStats(backend, backend.ports[0]);
    const b = await settledStats(backend, backend.ports[1]);
    // One thread accepting in order, one counter: strict alternation whatever the arrival order.
    assert.is(a.connections, 5);
    assert.is(b.connections, 5);
    assert.is(a.packets + b.packets, 10, 'one DISCONNECT per connection');
  } finally {
    await proxy.stop();
    await backend.stop();
  }
});

test('splice-proxy: a refused backend closes the client; bad flags exit 2', async () => {
  const proxy = await startProxy([await freePort()]); // nothing listens there
  try {
    // The client sends nothing (a write could race the close and fail with EPIPE); it only waits.
    const closed = await new Promise<{ bytes: number; error: string }>((resolve) => {
      let bytes = 0;
      let error = '';
      const socket = connect({ port: proxy.port, host: '127.0.0.1' });
      const timer = setTimeout(() => socket.destroy(new Error('still open after 5 s')), 5000);
      socket.on('data', (d: Buffer) => { bytes += d.length; });
      socket.on('error', (e) => { error = e.message; });
      socket.on('close', () => { clearTimeout(timer); resolve({ bytes, error }); });
    });
    assert.is(closed.bytes, 0);
    assert.is.not(closed.error, 'still open after 5 s');
  } finally {
    await proxy.stop();
  }
  const run = (args: string[]) => spawnSync(proxyBin, args).status;
  assert.is(run(['--listen', '10.0.0.1:1883', '--backends', '127.0.0.1:1']), 2, 'non-loopback listen');
  assert.is(run(['--listen', '127.0.0.1:1883', '--backends', '127.0.0.1:1,192.168.1.1:1883']), 2, 'non-loopback backend');
  assert.is(run(['--listen', '127.0.0.1:1883']), 2, 'no backends');
  assert.is(run(['--listen', '127.0.0.1:1883', '--backends', '127.0.0.1:1', '--pipe-size', '12']), 2, 'pipe too small');
});

test.run();
