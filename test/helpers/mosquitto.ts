// Starts real Mosquitto brokers (Debian package) on loopback for end-to-end tests, and stops them.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { stopProcess, waitForPort } from '../../bench/lib/processes.ts';

// The harness's process helpers serve the tests too.
export { stopProcess, waitForPort };

export type MosquittoBroker = { name: string; port: number; address: string; process: ChildProcess; conf: string; log: () => string };
export type MosquittoCluster = { brokers: MosquittoBroker[]; stop(): Promise<void> };

function spawnMosquitto(conf: string, onOutput: (d: string) => void): ChildProcess {
  const proc = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', onOutput);
  proc.stderr!.on('data', onOutput);
  return proc;
}

/** Starts a stopped broker again, same config and port (a broker that died and came back). */
export async function restartMosquitto(b: MosquittoBroker): Promise<void> {
  b.process = spawnMosquitto(b.conf, () => {});
  await waitForPort(b.port, 5000);
}

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
    const b: MosquittoBroker = { name: `m${i + 1}`, port, address: `127.0.0.1:${port}`, process: undefined as unknown as ChildProcess, conf, log: () => out };
    let out = '';
    b.process = spawnMosquitto(conf, (d) => { out += d; });
    brokers.push(b);
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
