// Child processes of the harness: spawn (optionally pinned to a CPU), wait for a port, stop, and read
// a process's resident memory and CPU time from /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';

export type Proc = { child: ChildProcess; output: () => string; name: string };

const started = new Set<ChildProcess>();

/** Spawns `cmd args`; with `cpu`, under `taskset -c cpu` so the kernel keeps it on that core. */
export function startProcess(name: string, cmd: string, args: string[], opts: { cpu?: string; env?: NodeJS.ProcessEnv; stdin?: 'pipe' | 'ignore' } = {}): Proc {
  const [file, argv] = opts.cpu !== undefined ? ['taskset', ['-c', opts.cpu, cmd, ...args]] : [cmd, args];
  const child = track(spawn(file, argv, { stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } }));
  let out = '';
  const keep = (d: Buffer) => { out = (out + d).slice(-20_000); };
  child.stderr!.on('data', keep);
  if (opts.stdin !== 'pipe') child.stdout!.on('data', keep);
  return { child, name, output: () => out };
}

export async function waitForPort(port: number, timeoutMs: number, proc?: Proc): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc && proc.child.exitCode !== null) throw new Error(`${proc.name} exited (${proc.child.exitCode}): ${proc.output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms${proc ? `: ${proc.output()}` : ''}`);
}

export function stopProcess(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => { clearTimeout(timer); resolve(); });
    child.kill('SIGTERM');
  });
}

/** Registers a child for killAll() until it exits (every process the harness spawns goes through here). */
export function track(child: ChildProcess): ChildProcess {
  started.add(child);
  child.on('exit', () => started.delete(child));
  return child;
}

/** Kills every process the harness started: on exit, Ctrl-C or an error, nothing is left running. */
export function killAll(): void {
  for (const c of started) c.kill('SIGKILL');
}

/** The real process behind a `taskset` wrapper is the same pid: taskset execs the command. */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** User + system CPU seconds the process (all its threads) has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[11] = utime, fields[12] = stime (fields 14 and 15 of proc(5), counted from state = 3).
  return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSec;
}

const clockTicksPerSec = 100; // USER_HZ on Linux x86_64/arm64

/**
 * CPU seconds the process's threads have run so far, in nanoseconds of precision: the sum over
 * /proc/PID/task/TID/schedstat (time on CPU). For low-CPU windows, where utime + stime (10 ms ticks)
 * would be too coarse; a thread that ends inside the window takes its time with it. Falls back to
 * cpuSeconds() where schedstat is missing.
 */
export function threadCpuSeconds(pid: number): number {
  let tids: string[];
  try { tids = readdirSync(`/proc/${pid}/task`); } catch { return cpuSeconds(pid); }
  let ns = 0;
  for (const tid of tids) {
    let text: string;
    try { text = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8'); } catch { continue; } // the thread just ended
    ns += Number(text.split(' ')[0]);
  }
  return Number.isFinite(ns) && ns > 0 ? ns / 1e9 : cpuSeconds(pid);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
