// The workloads. Each runs once against one target and returns named figures; the harness repeats,
// interleaves targets and summarizes. The figure math is in pure functions below, tested directly.
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as hdr from 'hdr-histogram-js';
import type { BenchOptions } from './args.ts';
import { loadgenBin, tlsgenBin, type Backends, type SinkStats } from './backends.ts';
import { holdIdle, runLoadgen, type LoadgenResult } from './loadgen.ts';
import { cpuSeconds, rssBytes, sleep, threadCpuSeconds } from './processes.ts';
import { stickyViolations } from './stats.ts';
import type { Target } from './targets.ts';

export type Figures = Record<string, number | undefined>;
export type RunContext = { opts: BenchOptions; loadCpu: string | undefined };

const target = (t: Target) => `127.0.0.1:${t.port}`;
// Client sockets bind to many loopback source addresses so ports (and TIME_WAIT) never run out.
const sources = '127.0.0.2-127.0.0.250';
const warmupSec = 0.5;
// iot: the pacing timer ticks every 250 µs (5 messages a tick at 20,000/s, each to another connection).
// Measured here with loadgen and echo sink alone on one core: a tick per message (50 µs) costs them
// about 95% of it, 250 µs about 60%, leaving the client side headroom; RTT p50 direct is the same (~90 µs).
const iotTickUs = 250;

/** Workload 1: C connections stream QoS 0 PUBLISH of `size` bytes; MB/s and msgs/s counted at the backend. */
export function throughput(t: Target, backends: Backends, size: number, ctx: RunContext): Promise<Figures> {
  return stream(t, backends, { size, conns: ctx.opts.throughputConns }, ctx);
}

/** Workload 1b, small writes: `size`-byte PUBLISH written `perWrite` packets (about 1 KB) per send(). */
export function smallWrites(t: Target, backends: Backends, ctx: RunContext): Promise<Figures> {
  const { opts } = ctx;
  return stream(t, backends, { size: opts.smallWritesSize, conns: opts.smallWritesConns, perWrite: opts.smallWritesPerWrite }, ctx);
}

function stream(t: Target, backends: Backends, shape: { size: number; conns: number; perWrite?: number }, ctx: RunContext): Promise<Figures> {
  const { opts } = ctx;
  return measureStream(t, backends, ctx, () => runLoadgen(['throughput', '--target', target(t), '--conns', String(shape.conns), '--size', String(shape.size),
    ...(shape.perWrite ? ['--per-write', String(shape.perWrite)] : []),
    '--seconds', String(opts.seconds + warmupSec + 0.5), '--sources', sources], ctx.loadCpu, (opts.seconds + 30) * 1000));
}

/** Starts a streaming load generator (its run outlasts the window), reads the backends and the target's
 *  CPU when the measured window opens and closes, and waits for the load generator's end. */
async function measureStream(t: Target, backends: Backends, ctx: RunContext, start: () => Promise<LoadgenResult>): Promise<Figures> {
  const running = start();
  await sleep(warmupSec * 1000);
  const a = await backends.stats();
  const cpuA = t.pid ? cpuSeconds(t.pid) : undefined;
  await sleep(ctx.opts.seconds * 1000);
  const b = await backends.stats();
  const cpuB = t.pid ? cpuSeconds(t.pid) : undefined;
  const r = await running;
  return { ...streamFigures(a, b, cpuA !== undefined && cpuB !== undefined ? cpuB - cpuA : undefined), connectErrors: Number(r.connect_errors ?? r.errors ?? 0) };
}

/** MB/s and messages/s delivered to the backends between two stats readings, and CPU-s per GB. */
export function streamFigures(a: SinkStats, b: SinkStats, cpuSec: number | undefined): Figures {
  const seconds = (b.timeNs - a.timeNs) / 1e9;
  const sum = (s: SinkStats, k: 'bytes' | 'publishes') => s.ports.reduce((n, p) => n + p[k], 0);
  const bytes = sum(b, 'bytes') - sum(a, 'bytes');
  const gb = bytes / 1e9;
  return {
    mbps: bytes / 1e6 / seconds,
    msgps: (sum(b, 'publishes') - sum(a, 'publishes')) / seconds,
    cpuPerGB: cpuSec !== undefined && gb > 0 ? cpuSec / gb : undefined,
  };
}

/** Workload 2 (+5): connect, CONNECT, CONNACK, close with K in flight; ids cycle so stickiness is checked. */
export async function connrate(t: Target, backends: Backends, ctx: RunContext): Promise<Figures> {
  const { opts } = ctx;
  await backends.ids(); // clears the per-backend id sets
  const file = join(tmpdir(), `bench-connrate-${process.pid}-${Date.now()}.u32`);
  const cpu = windowCpu(t);
  const r = await runLoadgen(['connrate', '--target', target(t), '--inflight', String(opts.connrateInflight), '--seconds', String(opts.seconds),
    '--ids', String(opts.connrateIds), '--id-prefix', 'sticky-', '--latency-out', file, '--sources', sources, '--warmup', String(warmupSec), '--marks'],
  ctx.loadCpu, (opts.seconds + 30) * 1000, cpu.onLine);
  const lat = latencyFigures(file);
  const ids = await backends.ids();
  const conns = Number(r.connections);
  const cpuSec = cpu.seconds();
  return {
    connps: conns / Number(r.seconds),
    // The balancer's CPU over the window per connection: what a connection costs when the load
    // generator, not the balancer, is the limit.
    cpuUsPerConn: cpuSec !== undefined && conns > 0 ? cpuSec * 1e6 / conns : undefined,
    p50us: lat.p50, p99us: lat.p99,
    errors: Number(r.errors),
    // With one backend (direct) nothing can be violated; report it as not applicable.
    stickyViolations: backends.ports.length > 1 && t.name !== 'direct' ? stickyViolations(ids) : undefined,
  };
}

/** Workload 3: small PUBLISH echoed back at a fixed rate below saturation; RTT percentiles in µs. */
export async function latency(t: Target, ctx: RunContext): Promise<Figures> {
  const { opts } = ctx;
  const file = join(tmpdir(), `bench-latency-${process.pid}-${Date.now()}.u32`);
  const r = await runLoadgen(['latency', '--target', target(t), '--rate', String(opts.latencyRate), '--size', '64', '--conns', String(opts.latencyConns),
    '--seconds', String(opts.seconds), '--latency-out', file], ctx.loadCpu, (opts.seconds + 30) * 1000);
  const lat = latencyFigures(file);
  return { p50us: lat.p50, p99us: lat.p99, p999us: lat.p999, lost: Number(r.sent) - Number(r.received) };
}

/**
 * Workload 3b, IoT shape: C connections (2,000) each echoing its share of R messages/s (20,000 in all,
 * 100 B payloads) through the balancer. The balancer's CPU is read (per thread, ns precision) when the
 * load generator says the window opens and closes; CPU per message = CPU over the window / messages
 * delivered (one message = a PUBLISH there and its echo back).
 */
export async function iot(t: Target, ctx: RunContext): Promise<Figures> {
  const { opts } = ctx;
  const file = join(tmpdir(), `bench-iot-${process.pid}-${Date.now()}.u32`);
  const cpu = windowCpu(t);
  const r = await runLoadgen(['latency', '--target', target(t), '--conns', String(opts.iotConns), '--rate', String(opts.iotRate),
    '--size', String(opts.iotSize), '--seconds', String(opts.seconds), '--warmup', String(warmupSec), '--tick-us', String(iotTickUs), '--marks', '--sources', sources,
    '--latency-out', file], ctx.loadCpu, (opts.seconds + 60) * 1000, cpu.onLine);
  return iotFigures(r, cpu.seconds(), latencyFigures(file));
}

/** The target's CPU seconds (all threads, ns precision) between loadgen's `--marks` window lines. */
function windowCpu(t: Target): { onLine(m: LoadgenResult): void; seconds(): number | undefined } {
  let start: number | undefined;
  let end: number | undefined;
  return {
    onLine(m) {
      if (m.type !== 'window' || !t.pid) return;
      if (m.phase === 'start') start = threadCpuSeconds(t.pid);
      else if (m.phase === 'end') end = threadCpuSeconds(t.pid);
    },
    seconds: () => (start !== undefined && end !== undefined ? end - start : undefined),
  };
}

/** The IoT figures from loadgen's latency result, the balancer's CPU seconds over the window and the RTTs. */
export function iotFigures(r: LoadgenResult, cpuSec: number | undefined, lat: { p50?: number; p99?: number; p999?: number }): Figures {
  const delivered = Number(r.received);
  const seconds = Number(r.seconds);
  return {
    cpuUsPerMsg: cpuSec !== undefined && delivered > 0 ? (cpuSec * 1e6) / delivered : undefined,
    p50us: lat.p50, p99us: lat.p99, p999us: lat.p999,
    delivered,
    msgps: seconds > 0 ? delivered / seconds : undefined,
    lost: Number(r.sent) - delivered + Number(r.skipped ?? 0),
    connectErrors: Number(r.connect_errors ?? 0),
  };
}

/**
 * Workload 4: hold N idle MQTT connections on the freshly started balancer; resident memory growth per
 * connection, and for Sluice the V8 heap in use after a full GC per connection (what is retained, not
 * garbage). The first GC comes before the RSS baseline, so RSS growth still counts garbage made while
 * the connections were accepted.
 */
export function idle(t: Target, ctx: RunContext): Promise<Figures> {
  return heldMemory(t, ctx.opts.idleConns, loadgenBin, ctx);
}

/** Holds `n` idle connections opened by `bin` (loadgen or tlsgen) and reads the target's memory around them. */
async function heldMemory(t: Target, n: number, bin: string, ctx: RunContext): Promise<Figures> {
  if (!t.pid) return {};
  const heapBefore = await t.heapAfterGc?.();
  await sleep(300);
  const rssBefore = rssBytes(t.pid);
  const held = await holdIdle(['--target', target(t), '--conns', String(n), '--sources', sources, '--hold-seconds', '120'], ctx.loadCpu, 120_000, bin);
  await sleep(1000); // let the balancer settle (lazy allocations, GC)
  const rssAfter = rssBytes(t.pid);
  const heapAfter = await t.heapAfterGc?.();
  await held.release();
  return idleFigures(n, { rssBefore, rssAfter, heapBefore, heapAfter }, Number(held.result.errors));
}

export function idleFigures(n: number, m: { rssBefore: number; rssAfter: number; heapBefore?: number; heapAfter?: number }, errors: number): Figures {
  return {
    bytesPerConn: (m.rssAfter - m.rssBefore) / n,
    heapPerConn: m.heapBefore !== undefined && m.heapAfter !== undefined ? (m.heapAfter - m.heapBefore) / n : undefined,
    rssMiB: m.rssAfter / (1 << 20),
    errors,
  };
}

/**
 * TLS workload 1: full or resumed handshakes. `tlsHandshakeThreads` loops each connect, handshake, send
 * CONNECT, read CONNACK and close, as fast as they can; the balancer's CPU over the measured window per
 * handshake is the figure that holds when the client side is the limit.
 */
export async function tlsHandshakes(t: Target, resume: boolean, ctx: RunContext): Promise<Figures> {
  const { opts } = ctx;
  const cpu = windowCpu(t);
  const r = await runLoadgen(['handshakes', '--target', target(t), '--threads', String(opts.tlsHandshakeThreads), '--seconds', String(opts.seconds),
    '--warmup', String(warmupSec), '--sources', sources, '--marks', ...(resume ? ['--resume'] : [])], ctx.loadCpu, (opts.seconds + 30) * 1000, cpu.onLine, tlsgenBin);
  return handshakeFigures(r, cpu.seconds(), resume);
}

/** Handshakes/s, the balancer's CPU-µs per handshake, errors, and for a resumed run the share that really resumed. */
export function handshakeFigures(r: LoadgenResult, cpuSec: number | undefined, resume: boolean): Figures {
  const n = Number(r.handshakes);
  return {
    hsps: n / Number(r.seconds),
    cpuUsPerHs: cpuSec !== undefined && n > 0 ? (cpuSec * 1e6) / n : undefined,
    resumedPct: resume && n > 0 ? (100 * Number(r.resumed)) / n : undefined,
    errors: Number(r.errors),
  };
}

/** TLS workload 2, and WebSocket throughput: C connections stream QoS 0 PUBLISH of `size` bytes over
 *  `transport`; MB/s counted at the backends (MQTT bytes, after TLS and WebSocket framing are gone). */
export function tlsStream(t: Target, backends: Backends, transport: 'tls' | 'ws' | 'wss', size: number, ctx: RunContext): Promise<Figures> {
  const port = transport === 'tls' ? t.port : t[transport];
  if (port === undefined) return Promise.resolve({}); // no such listener (HAProxy has no WebSocket-to-MQTT bridge)
  const { opts } = ctx;
  return measureStream(t, backends, ctx, () => runLoadgen(['throughput', '--target', `127.0.0.1:${port}`, '--transport', transport,
    '--conns', String(opts.throughputConns), '--size', String(size), '--seconds', String(opts.seconds + warmupSec + 0.5), '--warmup', '0.2'],
  ctx.loadCpu, (opts.seconds + 30) * 1000, undefined, tlsgenBin));
}

/** TLS workload 3: memory per idle TLS connection (after CONNECT and CONNACK), as `idle` reads it for TCP. */
export function tlsIdle(t: Target, ctx: RunContext): Promise<Figures> {
  return heldMemory(t, ctx.opts.tlsIdleConns, tlsgenBin, ctx);
}

/** Workload 1 once against real Mosquitto brokers: 1 KiB publishes, counted at the load generator. */
export async function mosquittoThroughput(t: Target, ctx: RunContext): Promise<Figures> {
  const { opts } = ctx;
  const r = await runLoadgen(['throughput', '--target', target(t), '--conns', String(opts.throughputConns), '--size', '1024',
    '--seconds', String(opts.seconds), '--warmup', String(warmupSec), '--sources', sources], ctx.loadCpu, (opts.seconds + 30) * 1000);
  return { mbps: Number(r.bytes) / 1e6 / Number(r.seconds), msgps: Number(r.messages) / Number(r.seconds) };
}

function latencyFigures(file: string): { p50?: number; p99?: number; p999?: number } {
  let buf: Buffer;
  try { buf = readFileSync(file); } catch { return {}; }
  rmSync(file, { force: true });
  const count = Math.floor(buf.length / 4);
  if (count === 0) return {};
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  for (let i = 0; i < count; i++) h.recordValue(Math.min(60_000_000, Math.max(1, buf.readUInt32LE(i * 4))));
  return { p50: h.getValueAtPercentile(50), p99: h.getValueAtPercentile(99), p999: h.getValueAtPercentile(99.9) };
}
