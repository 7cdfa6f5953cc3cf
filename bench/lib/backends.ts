// Backends behind the targets: the C sink/echo server (bench/native/sink.c) or real Mosquitto brokers.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { startProcess, stopProcess, track, waitForPort, type Proc } from './processes.ts';

export const nativeDir = new URL('../native/', import.meta.url).pathname;
export const sinkBin = join(nativeDir, 'build/sink');
export const loadgenBin = join(nativeDir, 'build/loadgen');
export const spliceProxyBin = join(nativeDir, 'build/splice-proxy');
export const tlsgenBin = join(nativeDir, 'build/tlsgen');

export type PortStats = { port: number; connections: number; bytes: number; packets: number; publishes: number };
export type SinkStats = { ports: PortStats[]; timeNs: number };

export type Backends = {
  kind: 'sink' | 'echo' | 'mosquitto';
  ports: number[];
  /** Totals so far (sink/echo only). */
  stats(): Promise<SinkStats>;
  /** Distinct client ids each backend saw since the last call (sink/echo only). */
  ids(): Promise<string[][]>;
  stop(): Promise<void>;
};

/** Starts the C sink in `mode` on `count` ports, pinned to `cpu`; talks to it over stdin/stdout lines. */
export async function startSink(mode: 'sink' | 'echo', count: number, cpu: string | undefined): Promise<Backends> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await freePort());
  const args = ['--ports', ports.join(','), '--mode', mode];
  const [file, argv] = cpu !== undefined ? ['taskset', ['-c', cpu, sinkBin, ...args]] : [sinkBin, args];
  const child = track(spawn(file, argv, { stdio: ['pipe', 'pipe', 'inherit'] }));
  const waiting: ((m: Record<string, unknown>) => void)[] = [];
  const lines = createInterface({ input: child.stdout! });
  let ready!: () => void;
  const readyP = new Promise<void>((resolve) => { ready = resolve; });
  lines.on('line', (line) => {
    let m: Record<string, unknown>;
    try { m = JSON.parse(line); } catch { return; }
    if (m.type === 'ready') ready();
    else waiting.shift()?.(m);
  });
  const ask = (cmd: string) => new Promise<Record<string, unknown>>((resolve) => { waiting.push(resolve); child.stdin!.write(`${cmd}\n`); });
  await Promise.race([readyP, new Promise((_, reject) => child.once('exit', (c) => reject(new Error(`sink exited ${c}`))))]);
  await Promise.all(ports.map((p) => waitForPort(p, 5000)));
  return {
    kind: mode,
    ports,
    async stats() {
      const m = await ask('stats');
      return { ports: m.ports as PortStats[], timeNs: Number(m.time_ns) };
    },
    async ids() {
      const m = await ask('ids');
      return (m.ports as { ids: string[] }[]).map((p) => p.ids);
    },
    async stop() {
      child.stdin!.end();
      await stopProcess(child);
    },
  };
}

export async function startMosquittoBackends(count: number, cpu: string | undefined): Promise<Backends> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-mosquitto-'));
  const procs: Proc[] = [];
  const mosquitto = existsSync('/usr/sbin/mosquitto') ? '/usr/sbin/mosquitto' : 'mosquitto';
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    const conf = join(dir, `m${i}.conf`);
    writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_connections -1\nlog_type error\n`);
    procs.push(startProcess(`mosquitto-${i}`, mosquitto, ['-c', conf], { cpu }));
    ports.push(port);
  }
  await Promise.all(ports.map((p, i) => waitForPort(p, 5000, procs[i])));
  const none = async (): Promise<never> => { throw new Error('mosquitto backends keep no sink statistics'); };
  return { kind: 'mosquitto', ports, stats: none, ids: none, stop: async () => { await Promise.all(procs.map((p) => stopProcess(p.child))); } };
}
