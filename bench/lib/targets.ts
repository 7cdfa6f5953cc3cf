// Bench targets: what the load generator connects to. Each is started against a set of backend ports,
// proves it is really in the path, and reports its process id for memory and CPU readings.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { TargetName } from './args.ts';
import { haproxyConfig, haproxyCumConns, type HaproxyMode } from './haproxy.ts';
import { freePort } from './ports.ts';
import { startProcess, stopProcess, waitForPort, sleep, type Proc } from './processes.ts';
import { spliceProxyBin } from './backends.ts';
import type { BenchCerts } from './certs.ts';

export type Target = {
  name: TargetName;
  port: number;
  pid: number | undefined; // the balancer process; undefined for direct
  /** TLS targets: `port` speaks MQTT over TLS. */
  tls?: boolean;
  /** sluice-tls: its MQTT over WebSocket listeners (plain and over TLS); HAProxy has no WebSocket-to-MQTT bridge. */
  ws?: number;
  wss?: number;
  /** Connections the target has accepted so far (a probe proves it is in the path); absent where the
   *  target keeps no counters, and then the probe's CONNACK through the target's own port is the proof. */
  acceptedConnections?(): Promise<number>;
  /** Sluice only: V8 heap in use after a full GC, all threads together (bytes; the /debug/gc test hook). */
  heapAfterGc?(): Promise<number>;
  stop(): Promise<void>;
};

export type TargetOptions = { workers: number; cpu: string | undefined; maxConnections: number; certs?: BenchCerts };

const root = new URL('../..', import.meta.url).pathname;
const nodeBin = process.execPath;

export async function startTarget(name: TargetName, backendPorts: number[], opts: TargetOptions): Promise<Target> {
  switch (name) {
    case 'direct':
      // The ceiling: clients straight to the first backend, nothing in between.
      return { name, port: backendPorts[0], pid: undefined, stop: async () => {} };
    case 'c-splice':
      return startCSplice(backendPorts, opts);
    case 'haproxy-tcp':
      return startHaproxy(name, 'tcp', backendPorts, opts);
    case 'haproxy-mqtt':
      return startHaproxy(name, 'mqtt', backendPorts, opts);
    case 'sluice-js':
      return startSluice(name, 'js', backendPorts, opts);
    case 'sluice-splice':
      return startSluice(name, 'splice', backendPorts, opts);
    case 'haproxy-tls':
      return startHaproxy(name, 'mqtt', backendPorts, opts, needCerts(opts).combined);
    case 'node-tls':
      return startNodeTls(backendPorts, opts, needCerts(opts));
    case 'sluice-tls':
      return startSluice(name, 'js', backendPorts, opts, needCerts(opts));
  }
}

function needCerts(opts: TargetOptions): BenchCerts {
  if (!opts.certs) throw new Error('TLS targets need the bench certificates (TargetOptions.certs)');
  return opts.certs;
}

/** The plain C splice proxy (bench/native/splice-proxy.c): the speed anchor for the native data path. */
async function startCSplice(backendPorts: number[], opts: TargetOptions): Promise<Target> {
  const port = await freePort();
  const proc = startProcess('c-splice', spliceProxyBin, ['--listen', `127.0.0.1:${port}`, '--backends', backendPorts.map((p) => `127.0.0.1:${p}`).join(',')], { cpu: opts.cpu });
  await waitForPort(port, 5000, proc);
  return { name: 'c-splice', port, pid: proc.child.pid, stop: () => stopProcess(proc.child) };
}

/** A bare Node TLS proxy (bench/node-tls-proxy.ts): what Node's own TLS and socket machinery costs. */
async function startNodeTls(backendPorts: number[], opts: TargetOptions, certs: BenchCerts): Promise<Target> {
  const port = await freePort();
  const args = [join(root, 'bench/node-tls-proxy.ts'), '--listen', String(port), '--backends', backendPorts.join(','), '--cert', certs.cert, '--key', certs.key];
  const proc = startProcess('node-tls', nodeBin, args, { cpu: opts.cpu });
  await waitForPort(port, 10_000, proc);
  return { name: 'node-tls', port, pid: proc.child.pid, tls: true, stop: () => stopProcess(proc.child) };
}

async function startHaproxy(name: TargetName, mode: HaproxyMode, backendPorts: number[], opts: TargetOptions, tlsCrt?: string): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), `bench-${name}-`));
  const port = await freePort();
  const statsSocket = join(dir, 'stats.sock');
  const cfg = join(dir, 'haproxy.cfg');
  // HAProxy sizes its fd table from maxconn (2 fds a connection) plus splice pipes (2 fds each; by
  // default maxpipes = maxconn/4) and refuses to start above the process's hard limit (20,000 here).
  // Pipes are only held while bytes move (the bench streams over at most a few dozen connections), so
  // a fixed 512 leaves room for 8,000+ idle connections; maxconn is capped to what the limit allows.
  const maxpipes = 512;
  const maxconn = Math.min(opts.maxConnections, Math.floor((fdHardLimit() - 200 - 2 * maxpipes) / 2));
  writeFileSync(cfg, haproxyConfig({ mode, listenPort: port, backendPorts, threads: opts.workers, statsSocket, maxconn, maxpipes, tlsCrt }));
  // -db: stay in the foreground; -W off: a single process, whose pid is the one measured.
  const proc = startProcess(name, 'haproxy', ['-db', '-f', cfg], { cpu: opts.cpu });
  await waitForPort(port, 10_000, proc);
  return { name, port, pid: proc.child.pid, tls: tlsCrt !== undefined, acceptedConnections: () => haproxyCumConns(statsSocket), stop: () => stopAndClean(proc, dir) };
}

/** `certs`: TLS listeners only (mqtts, ws and wss, each on its own port), which run on the JS pipe. */
async function startSluice(name: TargetName, datapath: 'js' | 'splice', backendPorts: number[], opts: TargetOptions, certs?: BenchCerts): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), `bench-${name}-`));
  const port = await freePort();
  const adminPort = await freePort();
  const ws = certs ? await freePort() : undefined;
  const wss = certs ? await freePort() : undefined;
  const tls = certs ? { cert: certs.cert, key: certs.key } : undefined;
  const cfg = join(dir, 'sluice.yaml');
  writeFileSync(cfg, stringify({
    workers: opts.workers,
    listeners: tls
      ? [{ bind: `127.0.0.1:${port}`, protocol: 'mqtts', tls }, { bind: `127.0.0.1:${ws}`, protocol: 'ws' }, { bind: `127.0.0.1:${wss}`, protocol: 'wss', tls }]
      : [{ bind: `127.0.0.1:${port}` }],
    brokers: backendPorts.map((p, i) => ({ name: `b${i + 1}`, address: `127.0.0.1:${p}` })),
    balance: { strategy: 'sticky' },
    sticky: { capacity: 1 << 20, ttl: '2h' },
    limits: { max_connections: opts.maxConnections },
    admin: { bind: `127.0.0.1:${adminPort}` },
    log: { level: 'warn' },
    ...extraConfig(),
  }));
  // SLUICE_TEST_HOOKS=1 for POST /debug/gc (heap after GC in the idle workload); the hooks cost nothing
  // on the data path (one boolean tested per CONNECT).
  const proc: Proc = startProcess(name, nodeBin, [...nodeFlags(), join(root, 'src/cli.ts'), '--config', cfg], { cpu: opts.cpu, env: { SLUICE_DATAPATH: datapath, SLUICE_TEST_HOOKS: '1' } });
  const stats = async () => (await (await fetch(`http://127.0.0.1:${adminPort}/api/stats`)).json()) as { counters: Record<string, number>; datapath?: string };
  await waitForPort(adminPort, 15_000, proc);
  for (let i = 0; i < 100; i++) {
    const health = await fetch(`http://127.0.0.1:${adminPort}/healthz`).catch(() => undefined);
    if (health?.status === 200) break;
    await sleep(100);
  }
  const active = (await stats()).datapath ?? 'js';
  if (!certs && active !== datapath) {
    await stopAndClean(proc, dir);
    throw new TargetUnavailable(`${name}: Sluice runs the ${active} data path here (the ${datapath} path is not available)`);
  }
  return {
    name, port, pid: proc.child.pid, tls: certs !== undefined, ws, wss,
    acceptedConnections: async () => (await stats()).counters.connections_accepted,
    heapAfterGc: async () => {
      const res = await fetch(`http://127.0.0.1:${adminPort}/debug/gc`, { method: 'POST' });
      if (res.status !== 200) throw new Error(`${name}: POST /debug/gc answered ${res.status}`);
      return ((await res.json()) as { total: number }).total;
    },
    stop: () => stopAndClean(proc, dir),
  };
}

/** Stops a target's process, then removes its generated config directory. */
async function stopAndClean(proc: Proc, dir: string): Promise<void> {
  await stopProcess(proc.child);
  rmSync(dir, { recursive: true, force: true });
}

/** BENCH_SLUICE_NODE_FLAGS: extra node flags for Sluice under the bench, e.g. `--cpu-prof --cpu-prof-dir=DIR`
 *  (one profile per thread, written when the target stops). */
function nodeFlags(): string[] {
  return (process.env.BENCH_SLUICE_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
}

/** BENCH_SLUICE_CONFIG: top-level config keys (JSON) laid over the bench's, for an A/B of a setting, e.g.
 *  `{"health":{"passive":{"failures":3}}}`. */
function extraConfig(): Record<string, unknown> {
  const raw = process.env.BENCH_SLUICE_CONFIG;
  return raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
}

function fdHardLimit(): number {
  const r = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' });
  const n = Number(r.stdout.trim());
  return Number.isFinite(n) && n > 0 ? n : 1024;
}

/** A target this machine cannot run (e.g. no splice addon): reported as skipped, not as a failure. */
export class TargetUnavailable extends Error {}
