// The benchmark harness: Sluice, HAProxy (TCP+splice, MQTT-aware sticky, and terminating TLS) and a direct
// connection on the same workloads in one run, interleaved, with medians, spread and ratios. See bench/README.md.
import { execFileSync, spawnSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { makeBenchCerts, type BenchCerts } from './lib/certs.ts';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { parseBenchArgs, tlsTargets, usage, UsageError, type BenchOptions, type TargetName } from './lib/args.ts';
import { nativeDir, startMosquittoBackends, startSink, type Backends } from './lib/backends.ts';
import { killAll, sleep } from './lib/processes.ts';
import { judge } from './lib/goals.ts';
import { cpuPlan, type CpuPlan } from './lib/pinning.ts';
import { renderHtml, renderReport, type BenchResult, type Row } from './lib/report.ts';
import { startTarget, TargetUnavailable, type Target } from './lib/targets.ts';
import { connrate, idle, iot, latency, mosquittoThroughput, smallWrites, throughput, tlsHandshakes, tlsIdle, tlsStream,
  type Figures, type RunContext } from './lib/workloads.ts';

const root = new URL('..', import.meta.url).pathname;

type Job = { workload: string; variant: string; repeats: number; run: (t: Target, b: Backends) => Promise<Figures> };
/** `tls`: the phase runs on the TLS targets only; otherwise on the others. */
type Phase = { name: string; tls?: boolean; backends: () => Promise<Backends>; jobs: Job[] };
type MetricInfo = { unit: string; better: 'higher' | 'lower' };

const metrics: Record<string, MetricInfo> = {
  mbps: { unit: 'MB/s', better: 'higher' }, msgps: { unit: 'msg/s', better: 'higher' }, cpuPerGB: { unit: 'CPU-s/GB', better: 'lower' },
  connps: { unit: 'conn/s', better: 'higher' }, p50us: { unit: 'µs', better: 'lower' }, p99us: { unit: 'µs', better: 'lower' },
  p999us: { unit: 'µs', better: 'lower' }, stickyViolations: { unit: 'ids', better: 'lower' }, bytesPerConn: { unit: 'B/conn', better: 'lower' },
  errors: { unit: 'count', better: 'lower' }, connectErrors: { unit: 'count', better: 'lower' }, lost: { unit: 'msgs', better: 'lower' },
  rssMiB: { unit: 'MiB', better: 'lower' }, heapPerConn: { unit: 'B/conn', better: 'lower' },
  cpuUsPerMsg: { unit: 'CPU-µs/msg', better: 'lower' }, cpuUsPerConn: { unit: 'CPU-µs/conn', better: 'lower' }, delivered: { unit: 'msgs', better: 'higher' },
  hsps: { unit: 'handshakes/s', better: 'higher' }, cpuUsPerHs: { unit: 'CPU-µs/handshake', better: 'lower' }, resumedPct: { unit: '% resumed', better: 'higher' },
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
  const cores = availableParallelism();
  const loadAtStart = loadavg().map((x) => Number(x.toFixed(2)));
  // One pass per worker count. Two cores: 1 worker gets CPU 0 to itself and the load generator and the
  // backends share CPU 1; 2 workers cannot be pinned apart from the load side, so that pass is unpinned.
  const passes = opts.workers.map((workers) => ({ workers, cpus: cpuPlan(workers, cores, opts.pin) }));
  const multi = passes.length > 1;

  log(`building the load generator and sink (make -C ${nativeDir})`);
  execFileSync('make', ['-C', nativeDir, '-s'], { stdio: 'inherit' });

  const skipped: Record<string, string> = {};
  let haproxyVersion = '';
  if (opts.targets.some((t) => t.startsWith('haproxy'))) {
    const setup = spawnSync('bash', [join(root, 'scripts/setup-haproxy.sh')], { encoding: 'utf8' });
    if (setup.status === 0) haproxyVersion = execFileSync('haproxy', ['-v'], { encoding: 'utf8' }).split('\n')[0];
    else for (const t of opts.targets.filter((x) => x.startsWith('haproxy'))) skipped[t] = `HAProxy unavailable: ${setup.stderr.trim()}`;
  }

  const candidates = opts.targets.filter((t) => !skipped[t]);
  // One throwaway CA and server certificate for every TLS target of the run.
  const certDir = candidates.some((t) => tlsTargets.includes(t)) ? mkdtempSync(join(tmpdir(), 'bench-certs-')) : undefined;
  const certs: BenchCerts | undefined = certDir ? makeBenchCerts(certDir) : undefined;
  const rows = new Map<string, Row>();
  const active = new Set<TargetName>();
  const passPhases = passes.map((p) => phasesFor(opts, p.cpus));
  const runsPerTarget = (jobs: Job[]) => jobs.reduce((m, j) => m + j.repeats, 0);
  const phaseTargets = (p: Phase) => candidates.filter((t) => tlsTargets.includes(t) === (p.tls ?? false));
  const progress = new Progress(passPhases.flat().reduce((n, p) => n + runsPerTarget(p.jobs) * phaseTargets(p).length, 0));

  for (const [i, pass] of passes.entries()) {
    log(`pass: ${pass.workers} worker${pass.workers > 1 ? 's' : ''}; pinning: ${pass.cpus.label}`);
    for (const phase of passPhases[i]) {
      log(`phase: ${phase.name}`);
      const backends = await phase.backends();
      const targets: Target[] = [];
      try {
        for (const name of phaseTargets(phase)) {
          if (skipped[name]) { progress.drop(runsPerTarget(phase.jobs)); continue; }
          try {
            const t = await startTarget(name, backends.ports, { workers: pass.workers, cpu: pass.cpus.balancer, maxConnections: opts.idleConns + 10_000, certs });
            await proveInPath(t);
            targets.push(t);
            active.add(name);
          } catch (err) {
            if (!(err instanceof TargetUnavailable)) throw err;
            skipped[name] = err.message;
            progress.drop(runsPerTarget(phase.jobs));
          }
        }
        for (const job of phase.jobs) {
          // Interleaved (A B C, A B C, ...): slow drift in the machine's load hits every target alike.
          for (let r = 0; r < job.repeats; r++) {
            for (const t of targets) {
              progress.show(`${job.workload} ${job.variant}${multi ? ` [${pass.workers}w]` : ''} · ${t.name} · run ${r + 1}/${job.repeats}`);
              const figures = await job.run(t, backends);
              for (const [metric, value] of Object.entries(figures)) {
                if (value === undefined) continue;
                const key = `${pass.workers}|${job.workload}|${job.variant}|${metric}`;
                let row = rows.get(key);
                if (!row) {
                  const label = `${job.workload} ${job.variant}${multi ? ` [${pass.workers} worker${pass.workers > 1 ? 's' : ''}]` : ''}`;
                  row = { workload: label, name: job.workload, variant: job.variant, workers: pass.workers, metric,
                    unit: metrics[metric]?.unit ?? '', better: metrics[metric]?.better ?? 'higher', samples: {} };
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
  }
  progress.done();
  if (certDir) rmSync(certDir, { recursive: true, force: true });

  const result: BenchResult = {
    meta: {
      date: new Date().toISOString(), quick: opts.quick, repeats: opts.repeats, seconds: opts.seconds,
      workers: multi ? opts.workers : opts.workers[0],
      pinning: multi ? Object.fromEntries(passes.map((p) => [`${p.workers} worker${p.workers > 1 ? 's' : ''}`, p.cpus.label])) : passes[0].cpus.label,
      cpu: cpus()[0]?.model, cores, node: process.version, haproxy: haproxyVersion,
      // 1, 5 and 15 minute load averages: other work on a shared machine shows up here and in the spreads.
      loadavg: { start: loadAtStart, end: loadavg().map((x) => Number(x.toFixed(2))) },
      shapes: {
        throughput: `${opts.throughputConns} conns`, smallWrites: `${opts.smallWritesSize} B x${opts.smallWritesPerWrite} per write, ${opts.smallWritesConns} conns`,
        connrate: `${opts.connrateInflight} in flight, ${opts.connrateIds} ids`, latency: `${opts.latencyRate} msg/s over ${opts.latencyConns} conns`,
        iot: `${opts.iotConns} conns, ${opts.iotRate} msg/s in all, ${opts.iotSize} B payloads`, idle: `${opts.idleConns} conns`,
        tls: `P-256 certificate, TLS 1.3 (client's default), ${opts.tlsHandshakeThreads} handshake loops, ${opts.throughputConns} streams, ${opts.tlsIdleConns} idle`,
      },
    },
    targets: [...candidates.filter((t) => active.has(t))],
    skipped,
    rows: [...rows.values()],
  };
  result.goals = judge(result.rows);
  process.stdout.write(`\n${renderReport(result)}`);
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

/** The phases of one pass (one worker count): each starts its backends, then runs its jobs on every target. */
function phasesFor(opts: BenchOptions, cpus: CpuPlan): Phase[] {
  const ctx: RunContext = { opts, loadCpu: cpus.load };
  const on = (w: (typeof opts.workloads)[number]) => opts.workloads.includes(w);
  const sinkJobs: Job[] = [];
  // First on a freshly started balancer: memory per idle connection.
  if (on('idle')) sinkJobs.push({ workload: 'idle', variant: `${opts.idleConns} conns`, repeats: 1, run: (t) => idle(t, ctx) });
  if (on('throughput')) {
    for (const size of opts.payloadSizes) sinkJobs.push({ workload: 'throughput', variant: sizeLabel(size), repeats: opts.repeats, run: (t, b) => throughput(t, b, size, ctx) });
  }
  if (on('small-writes')) {
    sinkJobs.push({ workload: 'small-writes', variant: `${sizeLabel(opts.smallWritesSize)} x${opts.smallWritesPerWrite}/write, ${opts.smallWritesConns} conns`,
      repeats: opts.repeats, run: (t, b) => smallWrites(t, b, ctx) });
  }
  if (on('connrate')) sinkJobs.push({ workload: 'connrate', variant: `${opts.connrateInflight} in flight`, repeats: opts.repeats, run: (t, b) => connrate(t, b, ctx) });
  const echoJobs: Job[] = [];
  if (on('latency')) echoJobs.push({ workload: 'latency', variant: `${opts.latencyRate} msg/s`, repeats: opts.repeats, run: (t) => latency(t, ctx) });
  if (on('iot')) {
    echoJobs.push({ workload: 'iot', variant: `${opts.iotConns} conns, ${opts.iotRate} msg/s, ${sizeLabel(opts.iotSize)}`, repeats: opts.repeats, run: (t) => iot(t, ctx) });
  }
  const tlsJobs: Job[] = [];
  // First on a freshly started balancer, as for idle: memory per idle TLS connection.
  if (on('tls-idle')) tlsJobs.push({ workload: 'tls-idle', variant: `${opts.tlsIdleConns} conns`, repeats: 1, run: (t) => tlsIdle(t, ctx) });
  if (on('tls-handshakes')) {
    tlsJobs.push({ workload: 'tls-handshakes', variant: 'full', repeats: opts.repeats, run: (t) => tlsHandshakes(t, false, ctx) });
    tlsJobs.push({ workload: 'tls-handshakes', variant: 'resumed', repeats: opts.repeats, run: (t) => tlsHandshakes(t, true, ctx) });
  }
  if (on('tls-throughput')) tlsJobs.push({ workload: 'tls-throughput', variant: '16 KiB', repeats: opts.repeats, run: (t, b) => tlsStream(t, b, 'tls', 16384, ctx) });
  if (on('ws-throughput')) {
    for (const transport of ['ws', 'wss'] as const) {
      tlsJobs.push({ workload: 'ws-throughput', variant: `${transport} 16 KiB`, repeats: opts.repeats, run: (t, b) => tlsStream(t, b, transport, 16384, ctx) });
    }
  }
  return [
    { name: 'sink backends', backends: () => startSink('sink', 3, cpus.load), jobs: sinkJobs },
    { name: 'echo backends', backends: () => startSink('echo', 3, cpus.load), jobs: echoJobs },
    { name: 'mosquitto backends', backends: () => startMosquittoBackends(3, cpus.load), jobs: on('mosquitto')
      ? [{ workload: 'throughput-mosquitto', variant: '1 KiB', repeats: 1, run: (t: Target) => mosquittoThroughput(t, ctx) }] : [] },
    { name: 'sink backends (TLS targets)', tls: true, backends: () => startSink('sink', 3, cpus.load), jobs: tlsJobs },
  ].filter((p) => p.jobs.length > 0);
}

/** One real MQTT CONNECT through the target must raise its accepted-connection count. */
async function proveInPath(t: Target): Promise<void> {
  if (t.name === 'direct') return;
  const before = await t.acceptedConnections?.();
  await new Promise<void>((resolve, reject) => {
    // MQTT 3.1.1 CONNECT, client id "probe"; over TLS for a TLS target (its certificate is the bench's own).
    const hello = Buffer.from('101100044d5154540402003c000570726f6265', 'hex');
    const s = t.tls ? tlsConnect({ port: t.port, host: '127.0.0.1', rejectUnauthorized: false }) : connect(t.port, '127.0.0.1');
    s.on(t.tls ? 'secureConnect' : 'connect', () => s.write(hello));
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
