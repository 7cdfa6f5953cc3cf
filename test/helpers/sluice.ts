// Starts the real `sluice` CLI as a child process with a generated config, waits until every worker
// listens (/healthz), and stops it; its output is kept so tests can assert log lines.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, } from './ports.ts';
import { stopProcess } from './mosquitto.ts';

const cli = new URL('../../src/cli.ts', import.meta.url).pathname;

export type SluiceProcess = {
  port: number;
  adminPort: number;
  process: ChildProcess;
  output: () => string;
  admin<T = unknown>(path: string, init?: RequestInit): Promise<{ status: number; body: T }>;
  /** Writes a new config file (the same listeners and admin; `config` as for startSluice), or raw text. */
  rewrite(config: Record<string, unknown> | string): void;
  stop(): Promise<void>;
};

/**
 * `config` is the YAML config minus listeners/admin, which this helper fills with free ports.
 * `listenHost` is the listener's host part (default 127.0.0.1; '' gives ":port", "[::1]" an IPv6 one).
 */
export async function startSluice(config: Record<string, unknown>, opts: { timeoutMs?: number; env?: Record<string, string>; listenHost?: string; adminTokenFile?: string } = {}): Promise<SluiceProcess> {
  const port = await freePort();
  const adminPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-test-'));
  const file = join(dir, 'sluice.yaml');
  const write = (c: Record<string, unknown>) => writeFileSync(file, stringify({ listeners: [{ bind: `${opts.listenHost ?? '127.0.0.1'}:${port}` }], admin: { bind: `127.0.0.1:${adminPort}`, token_file: opts.adminTokenFile }, ...c }));
  write(config);
  const proc = spawn(process.execPath, [cli, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  const admin = async <T>(path: string, init?: RequestInit) => {
    const res = await fetch(`http://127.0.0.1:${adminPort}${path}`, init);
    return { status: res.status, body: (await res.json()) as T };
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`sluice exited (${proc.exitCode}) during start:\n${out}`);
    try {
      if ((await admin('/healthz')).status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error(`sluice not healthy in time:\n${out}`); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port, adminPort, process: proc, output: () => out, admin,
    rewrite: (c) => (typeof c === 'string' ? writeFileSync(file, c) : write(c)),
    async stop() { await stopSluiceProcess(proc); rmSync(dir, { recursive: true, force: true }); },
  };
}

/** SIGTERM, and a second one 200 ms later if it still drains (tests do not wait out shutdown.drain_timeout). */
async function stopSluiceProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const hurry = setTimeout(() => proc.kill('SIGTERM'), 200);
  await stopProcess(proc, 8000);
  clearTimeout(hurry);
}
