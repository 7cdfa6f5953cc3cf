// The benchmark harness: Sluice, HAProxy (TCP+splice and MQTT-aware sticky) and a direct connection on
// the same workloads in one run, interleaved, with medians, spread and ratios. See bench/README.md.
import { execFileSync, spawnSync } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { parseBenchArgs, usage, UsageError, type BenchOptions, type TargetName } from './lib/args.ts';
import { nativeDir, startMosquittoBackends, startSink, type Backends } from './lib/backends.ts';
import { killAll, sleep } from './lib/processes.ts';
import { renderHtml, renderTable, type BenchResult, type Row } from './lib/report.ts';
import { startTarget, TargetUnavailable, type Target } from './lib/targets.ts';
import { connrate, idle, latency, mosquittoThroughput, throughput, type Figures, type RunContext } from './lib/workloads.ts';

const root = new URL('..', import.meta.url).pathname;

type Job = { workload: string; variant: string; repeats: number; run: (t: Target, b: Backends) => Promise<Figures> };
type Phase = { name: string; backends: () => Promise<Backends>; jobs: Job[] };
type MetricInfo = { unit: string; better: 'higher' | 'lower' };

const metrics: Record<string, MetricInfo> = {
  mbps: { unit: 'MB/s', better: 'higher' }, msgps: { unit: 'msg/s', better: 'higher' }, cpuPerGB: { unit: 'CPU-s/GB', better: 'lower' },
  connps: { unit: 'conn/s', better: 'higher' }, p50us: { unit: 'µs', better: 'lower' }, p99us: { unit: 'µs', better: 'lower' },
  p999us: { unit: 'µs', better: 'lower' }, stickyViolations: { unit: 'ids', better: 'lower' }, bytesPerConn: { unit: 'B/conn', better: 'lower' },
  errors: { unit: 'count', better: 'lower' }, connectErrors: { unit: 'count', better: 'lower' }, lost: { unit: 'msgs', better: 'lower' },
  rssMiB: { unit: 'MiB', better: 'lower' },
};

async function main(): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseBenchArgs(process.argv.slice(2));
  } catch (err) {
    const msg = (err as Error).message;
    process.stderr.write(`${msg ? `bench: ${msg}\n\n` : ''}${usage}`);
    return msg ? 2 : 0;
  }
  const pinned = opts.pin && availableParallelism() >= 2;
  // Two cores: the balancer gets CPU 0 to itself; the load generator and the backends share CPU 1.
  const balancerCpu = pinned ? '0' : undefined;
  const loadCpu = pinned ? '1' : undefined;

  log(`building the load generator and sink (make -C ${nativeDir})`);
  execFileSync('make', ['-C', nativeDir, '-s'], { stdio: 'inherit' });

  const skipped: Record<string, string> = {};
  let haproxyVersion = '';
  if (opts.targets.some((t) => t.startsWith('haproxy'))) {
    const setup = spawnSync('bash', [join(root, 'scripts/setup-haproxy.sh')], { encoding: 'utf8' });
    if (setup.status === 0) haproxyVersion = execFileSync('haproxy', ['-v'], { encoding: 'utf8' }).split('\n')[0];
    else for (const t of opts.targets.filter((x) => x.startsWith('haproxy'))) skipped[t] = `HAProxy unavailable: ${setup.stderr.trim()}`;
  }

  const ctx: RunContext = { opts, loadCpu };
  const sinkJobs: Job[] = [];
  if (opts.workloads.includes('idle')) sinkJobs.push({ workload: 'idle', variant: `${opts.idleConns} conns`, repeats: 1, run: (t) => idle(t, ctx) });
  if (opts.workloads.includes('throughput')) {
    for (const size of opts.payloadSizes) sinkJobs.push({ workload: 'throughput', variant: sizeLabel(size), repeats: opts.repeats, run: (t, b) => throughput(t, b, size, ctx) });
  }
  if (opts.workloads.includes('connrate')) sinkJobs.push({ workload: 'connrate', variant: `${opts.connrateInflight} in flight`, repeats: opts.repeats, run: (t, b) => connrate(t, b, ctx) });
  const phases: Phase[] = [
    { name: 'sink backends', backends: () => startSink('sink', 3, loadCpu), jobs: sinkJobs },
    { name: 'echo backends', backends: () => startSink('echo', 3, loadCpu), jobs: opts.workloads.includes('latency')
      ? [{ workload: 'latency', variant: `${opts.latencyRate} msg/s`, repeats: opts.repeats, run: (t: Target) => latency(t, ctx) }] : [] },
    { name: 'mosquitto backends', backends: () => startMosquittoBackends(3, loadCpu), jobs: opts.workloads.includes('mosquitto')
      ? [{ workload: 'throughput-mosquitto', variant: '1 KiB', repeats: 1, run: (t: Target) => mosquittoThroughput(t, ctx) }] : [] },
  ].filter((p) => p.jobs.length > 0);

  const candidates = opts.targets.filter((t) => !skipped[t]);
  const rows = new Map<string, Row>();
  const active = new Set<TargetName>();
  const progress = new Progress(phases.reduce((n, p) => n + p.jobs.reduce((m, j) => m + j.repeats, 0) * candidates.length, 0));

  for (const phase of phases) {
    log(`phase: ${phase.name}`);
    const backends = await phase.backends();
    const targets: Target[] = [];
    try {
      for (const name of candidates) {
        try {
          const t = await startTarget(name, backends.ports, { workers: opts.workers, cpu: balancerCpu, maxConnections: opts.idleConns + 10_000 });
          await proveInPath(t);
          targets.push(t);
          active.add(name);
        } catch (err) {
          if (!(err instanceof TargetUnavailable)) throw err;
          skipped[name] = err.message;
          progress.drop(phase.jobs.reduce((m, j) => m + j.repeats, 0));
        }
      }
      for (const job of phase.jobs) {
        // Interleaved (A B C, A B C, ...): slow drift in the machine's load hits every target alike.
        for (let r = 0; r < job.repeats; r++) {
          for (const t of targets) {
            progress.show(`${job.workload} ${job.variant} · ${t.name} · run ${r + 1}/${job.repeats}`);
            const figures = await job.run(t, backends);
            for (const [metric, value] of Object.entries(figures)) {
              if (value === undefined) continue;
              const key = `${job.workload}|${job.variant}|${metric}`;
              let row = rows.get(key);
              if (!row) {
                row = { workload: `${job.workload} ${job.variant}`, metric, unit: metrics[metric]?.unit ?? '', better: metrics[metric]?.better ?? 'higher', samples: {} };
                rows.set(key, row);
              }
              (row.samples[t.name] ??= []).push(value);
            }
            progress.step();
          }
        }
      }
    } finally {
      for (const t of targets) await t.stop();
      await backends.stop();
    }
  }
  progress.done();

  const result: BenchResult = {
    meta: {
      date: new Date().toISOString(), quick: opts.quick, repeats: opts.repeats, seconds: opts.seconds, workers: opts.workers,
      pinning: pinned ? 'balancer on CPU 0; load generator and backends on CPU 1 (taskset)' : 'none',
      cpu: cpus()[0]?.model, cores: availableParallelism(), node: process.version, haproxy: haproxyVersion,
    },
    targets: [...candidates.filter((t) => active.has(t))],
    skipped,
    rows: [...rows.values()],
  };
  const table = renderTable(result);
  process.stdout.write(`\n${table}`);
  const outDir = opts.out ?? join(root, 'bench/results');
  mkdirSync(outDir, { recursive: true });
  const stamp = result.meta.date!.toString().replace(/[:.]/g, '-');
  const kind = opts.quick ? 'quick' : 'full';
  writeFileSync(join(outDir, `${stamp}-${kind}.json`), JSON.stringify(result, null, 2) + '\n');
  writeFileSync(join(outDir, `latest-${kind}.json`), JSON.stringify(result, null, 2) + '\n');
  writeFileSync(join(outDir, `latest-${kind}.html`), renderHtml(result));
  log(`results: ${join(outDir, `latest-${kind}.json`)} and latest-${kind}.html`);
  return 0;
}

/** One real MQTT CONNECT through the target must raise its accepted-connection count. */
async function proveInPath(t: Target): Promise<void> {
  if (t.name === 'direct') return;
  const before = await t.acceptedConnections?.();
  await new Promise<void>((resolve, reject) => {
    const s = connect(t.port, '127.0.0.1');
    // MQTT 3.1.1 CONNECT, client id "probe".
    s.on('connect', () => s.write(Buffer.from('101100044d5154540402003c000570726f6265', 'hex')));
    s.once('data', () => { s.destroy(); resolve(); });
    s.once('error', reject);
    setTimeout(() => { s.destroy(); reject(new Error(`${t.name}: no CONNACK through the target`)); }, 5000);
  });
  if (!t.acceptedConnections || before === undefined) return;
  await sleep(50);
  const after = await t.acceptedConnections();
  if (!(after > before)) throw new Error(`${t.name}: its own counters did not see the probe connection (before ${before}, after ${after})`);
}

class Progress {
  #total: number;
  #done = 0;
  readonly #start = Date.now();
  constructor(total: number) { this.#total = total; }
  drop(n: number) { this.#total -= n; }
  step() { this.#done++; }
  show(what: string) {
    const elapsed = (Date.now() - this.#start) / 1000;
    const left = this.#done > 0 ? (elapsed / this.#done) * (this.#total - this.#done) : NaN;
    const line = `[${this.#done + 1}/${this.#total}] ${what} · ${Number.isFinite(left) ? `~${fmtDuration(left)} left` : 'estimating'}`;
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${line}`);
    else process.stderr.write(`${line}\n`);
  }
  done() { if (process.stderr.isTTY) process.stderr.write('\r\x1b[K'); log(`finished in ${fmtDuration((Date.now() - this.#start) / 1000)}`); }
}

function fmtDuration(sec: number): string {
  const m = Math.floor(sec / 60);
  return m > 0 ? `${m}m${Math.round(sec % 60)}s` : `${Math.round(sec)}s`;
}

function sizeLabel(bytes: number): string {
  return bytes >= 1024 && bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} B`;
}

function log(msg: string) { process.stderr.write(`bench: ${msg}\n`); }

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => { killAll(); process.exit(130); });
try {
  process.exitCode = await main();
} catch (err) {
  killAll();
  process.stderr.write(`bench: failed: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
}
