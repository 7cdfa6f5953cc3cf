// Starts real Mosquitto brokers (Debian package) on loopback for end-to-end tests, and stops them.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { stopProcess, waitForPort } from '../../bench/lib/processes.ts';

// The harness's process helpers serve the tests too.
export { stopProcess, waitForPort };

export type MosquittoBroker = { name: string; port: number; address: string; process: ChildProcess; log: () => string };
export type MosquittoCluster = { brokers: MosquittoBroker[]; stop(): Promise<void> };

export async function startMosquittos(count: number): Promise<MosquittoCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-mosq-'));
  const brokers: MosquittoBroker[] = [];
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    const conf = join(dir, `m${i}.conf`);
    // persistence off: queued QoS 1 messages for offline persistent sessions live in memory, which is
    // what the session tests need; the broker process stays up for the whole test file.
    writeFileSync(conf, [
      `listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false',
      'log_dest stdout', 'log_type error', 'log_type warning', 'max_queued_messages 1000', '',
    ].join('\n'));
    const proc = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (d) => { out += d; });
    proc.stderr!.on('data', (d) => { out += d; });
    brokers.push({ name: `m${i + 1}`, port, address: `127.0.0.1:${port}`, process: proc, log: () => out });
  }
  await Promise.all(brokers.map((b) => waitForPort(b.port, 5000)));
  return {
    brokers,
    async stop() {
      await Promise.all(brokers.map((b) => stopProcess(b.process)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
