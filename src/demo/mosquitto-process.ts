// One demo Mosquitto broker as a child process of Sluice: started, watched, restarted when it dies, stopped.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config/resolved.ts';
import { ErrorCode, SluiceError } from '../errors.ts';
import { dialHost } from './mosquitto-config.ts';

const startTimeoutMs = 10_000;
const pollMs = 50;
const tailLines = 20;
// Restart backoff: 250 ms doubling up to 5 s; a run that lasted a minute starts the count again.
const restartBaseMs = 250;
const restartMaxMs = 5_000;
const healthyRunMs = 60_000;

/**
 * True when `setpriv --pdeathsig` (util-linux >= 2.33) works here: a broker spawned through it gets
 * SIGTERM from the kernel when Sluice dies, even by SIGKILL. (The signal follows the thread that forked
 * the child; Node spawns from the main thread, which lives as long as the process.)
 */
export function pdeathsigUsable(): boolean {
  const r = spawnSync('setpriv', ['--pdeathsig', 'SIGTERM', '--', 'true'], { stdio: 'ignore', timeout: 5000 });
  return r.status === 0;
}

/**
 * The user a demo broker runs as when Sluice runs as root: Debian's `mosquitto`. Mosquitto started as
 * root switches to that user itself, and the kernel clears the parent-death signal on that switch
 * (prctl(2); seen here: the broker outlived a SIGKILLed parent), so Sluice switches before setpriv runs.
 * Undefined when Sluice is not root (nothing to switch) or there is no such user.
 */
export function brokerUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const entry = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('mosquitto:'));
    const [, , uid, gid] = entry?.split(':') ?? [];
    return uid && gid ? { uid: Number(uid), gid: Number(gid) } : undefined;
  } catch {
    return undefined;
  }
}

export type MosquittoProcessOptions = {
  broker: BrokerConfig;
  mosquittoPath: string;
  confPath: string;
  pdeathsig: boolean;
  /** Spawn as this user (see brokerUser). */
  user?: { uid: number; gid: number };
  log: Logger;
  /** Run after a restart, once the broker listens: e.g. wait until its bridge is up again. */
  afterRestart?: () => Promise<Record<string, unknown>>;
};

export class MosquittoProcess {
  readonly #opts: MosquittoProcessOptions;
  #child: ChildProcess | undefined;
  #tail: string[] = [];
  #sawRunning = false;
  #stopping = false;
  #startedAtMs = 0;
  #restarts = 0;
  #crashes = 0; // unexpected exits and failed restarts since the last healthy run: the backoff exponent
  #restartTimer: NodeJS.Timeout | undefined;

  constructor(opts: MosquittoProcessOptions) {
    this.#opts = opts;
  }

  get name(): string { return this.#opts.broker.name; }
  get pid(): number | undefined { return this.#child?.pid; }
  /** Mosquitto's last log lines, for error messages. */
  get tail(): string { return this.#tail.join('\n'); }

  /** Spawns the broker and resolves once it listens; throws SLUICE_ERR_DEMO if it exits or hangs first. */
  async start(timeoutMs = startTimeoutMs): Promise<void> {
    const { broker, mosquittoPath, confPath, pdeathsig, user } = this.#opts;
    const [file, args] = pdeathsig
      ? ['setpriv', ['--pdeathsig', 'SIGTERM', '--', mosquittoPath, '-c', confPath]]
      : [mosquittoPath, ['-c', confPath]];
    this.#sawRunning = false;
    this.#tail = [];
    // detached: its own process group, so a Ctrl-C in the terminal reaches Sluice only, and Sluice stops
    // the broker after its clients are drained. setpriv execs mosquitto: the pid stays the same.
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, uid: user?.uid, gid: user?.gid });
    this.#child = child;
    this.#startedAtMs = Date.now();
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    for (const stream of [child.stdout!, child.stderr!]) this.#readLines(stream, child);
    child.once('exit', (code, signal) => this.#onExit(child, code, signal));

    const deadline = Date.now() + timeoutMs;
    let failure: Error | undefined;
    spawnError.then((err) => { failure = err; });
    while (!failure) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      if (this.#sawRunning && await listening(broker.host, broker.port)) return;
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, pollMs));
    }
    const exited = child.exitCode !== null || child.signalCode !== null;
    const why = failure ? `could not be spawned (${failure.message})`
      : exited ? `exited during start (${child.exitCode ?? child.signalCode})`
      : `did not listen within ${timeoutMs} ms`;
    if (!exited) child.kill('SIGKILL');
    throw new SluiceError(ErrorCode.demo, `demo broker ${broker.name} (mosquitto on ${broker.address}) ${why}${this.#tail.length ? `:\n  ${this.#tail.join('\n  ')}` : ''}`);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. No restart after this. */
  async stop(graceMs = 3000): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.once('exit', () => { clearTimeout(timer); resolve(); });
      child.kill('SIGTERM');
    });
  }

  /** Synchronous last resort (process 'exit' hook): the broker must not outlive Sluice. */
  killNow(): void {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    if (this.#child && this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
  }

  #readLines(stream: NodeJS.ReadableStream, child: ChildProcess): void {
    let partial = '';
    stream.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        if (!line) continue;
        if (/^mosquitto version \S+ running$/.test(line)) this.#sawRunning = true;
        this.#tail.push(line);
        if (this.#tail.length > tailLines) this.#tail.shift();
        this.#opts.log.debug({ broker: this.name, brokerPid: child.pid, line }, 'mosquitto');
      }
    });
  }

  #onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    // Only the current child matters, and only once it is running: a failed start is reported by start().
    if (child !== this.#child || this.#stopping || !this.#sawRunning) return;
    const ranMs = Date.now() - this.#startedAtMs;
    if (ranMs > healthyRunMs) this.#crashes = 0;
    const delayMs = this.#backoffMs();
    this.#opts.log.error({ broker: this.name, brokerPid: child.pid, code, signal, ranMs, restartInMs: delayMs, lastLines: this.#tail },
      'demo broker exited unexpectedly; restarting');
    this.#scheduleRestart(delayMs);
  }

  #backoffMs(): number {
    return Math.min(restartMaxMs, restartBaseMs * 2 ** this.#crashes++);
  }

  #scheduleRestart(delayMs: number): void {
    this.#restartTimer = setTimeout(async () => {
      if (this.#stopping) return;
      try {
        await this.start();
        if (this.#stopping) return;
        this.#restarts++;
        const extra = (await this.#opts.afterRestart?.()) ?? {};
        this.#opts.log.info({ broker: this.name, address: this.#opts.broker.address, brokerPid: this.pid, restarts: this.#restarts, ...extra }, 'demo broker restarted');
      } catch (err) {
        if (this.#stopping) return;
        const next = this.#backoffMs();
        this.#opts.log.error({ broker: this.name, err: (err as Error).message, restartInMs: next }, 'demo broker restart failed; trying again');
        this.#scheduleRestart(next);
      }
    }, delayMs);
  }
}

function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, dialHost(host));
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}
