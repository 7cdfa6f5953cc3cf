// The five workloads. Each runs once against one target and returns named figures; the harness
// repeats, interleaves targets and summarizes.
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as hdr from 'hdr-histogram-js';
import type { BenchOptions } from './args.ts';
import type { Backends } from './backends.ts';
import { holdIdle, runLoadgen } from './loadgen.ts';
import { cpuSeconds, rssBytes, sleep } from './processes.ts';
import { stickyViolations } from './stats.ts';
import type { Target } from './targets.ts';

export type Figures = Record<string, number | undefined>;
export type RunContext = { opts: BenchOptions; loadCpu: string | undefined };

const target = (t: Target) => `127.0.0.1:${t.port}`;
// Client sockets bind to many loopback source addresses so ports (and TIME_WAIT) never run out.
const sources = '127.0.0.2-127.0.0.250';
const warmupSec = 0.5;

/** Workload 1: C connections stream QoS 0 PUBLISH of `size` bytes; MB/s and msgs/s counted at the backend. */
export async function throughput(t: Target, backends: Backends, size: number, ctx: RunContext): Promise<Figures> {
  const { opts } = ctx;
  const running = runLoadgen(['throughput', '--target', target(t), '--conns', String(opts.throughputConns), '--size', String(size),
    '--seconds', String(opts.seconds + warmupSec + 0.5), '--sources', sources], ctx.loadCpu, (opts.seconds + 30) * 1000);
  await sleep(warmupSec * 1000);
  const a = await backends.stats();
  const cpuA = t.pid ? cpuSeconds(t.pid) : undefined;
  await sleep(opts.seconds * 1000);
  const b = await backends.stats();
  const cpuB = t.pid ? cpuSeconds(t.pid) : undefined;
  const r = await running;
  const seconds = (b.timeNs - a.timeNs) / 1e9;
  const sum = (s: typeof a, k: 'bytes' | 'publishes') => s.ports.reduce((n, p) => n + p[k], 0);
  const bytes = sum(b, 'bytes') - sum(a, 'bytes');
  const gb = bytes / 1e9;
  return {
    mbps: bytes / 1e6 / seconds,
    msgps: (sum(b, 'publishes') - sum(a, 'publishes')) / seconds,
    cpuPerGB: cpuA !== undefined && cpuB !== undefined && gb > 0 ? (cpuB - cpuA) / gb : undefined,
    connectErrors: Number(r.connect_errors ?? 0),
  };
}

/** Workload 2 (+5): connect, CONNECT, CONNACK, close with K in flight; ids cycle so stickiness is checked. */
export async function connrate(t: Target, backends: Backends, ctx: RunContext): Promise<Figures> {
  const { opts } = ctx;
  await backends.ids(); // clears the per-backend id sets
  const file = join(tmpdir(), `bench-connrate-${process.pid}-${Date.now()}.u32`);
  const r = await runLoadgen(['connrate', '--target', target(t), '--inflight', String(opts.connrateInflight), '--seconds', String(opts.seconds),
    '--ids', String(opts.connrateIds), '--id-prefix', 'sticky-', '--latency-out', file, '--sources', sources], ctx.loadCpu, (opts.seconds + 30) * 1000);
  const lat = latencyFigures(file);
  const ids = await backends.ids();
  return {
    connps: Number(r.connections) / Number(r.seconds),
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

/** Workload 4: hold N idle MQTT connections; resident memory growth of the balancer per connection. */
export async function idle(t: Target, ctx: RunContext): Promise<Figures> {
  // The C splice proxy keeps two pipes per connection (6 fds): the idle count does not fit its fd limit,
  // and its memory is not what this workload compares.
  if (!t.pid || t.name === 'c-splice') return {};
  const n = ctx.opts.idleConns;
  await sleep(300);
  const before = rssBytes(t.pid);
  const held = await holdIdle(['--target', target(t), '--conns', String(n), '--sources', sources, '--hold-seconds', '120'], ctx.loadCpu, 120_000);
  await sleep(1000); // let the balancer settle (lazy allocations, GC)
  const after = rssBytes(t.pid);
  await held.release();
  return { bytesPerConn: (after - before) / n, rssMiB: after / (1 << 20), errors: Number(held.result.errors) };
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
