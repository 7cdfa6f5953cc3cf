// Supervises the data-plane worker threads: starts N, replaces any that dies (with backoff), answers
// admin queries by asking every worker, and stops them on shutdown.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/resolved.ts';
import { SluiceError, ErrorCode } from '../errors.ts';
import type { ClientRecord, DatapathStats, FromWorker, ToWorker, WorkerData } from '../worker-messages.ts';

const workerEntry = new URL('../../workers/worker.ts', import.meta.url);
const maxRestartDelayMs = 5000;
/** After the drain: how long a worker gets to close what is left and end before it is terminated. */
const kStopMarginMs = 5000;
const adminQueryTimeoutMs = 2000;
// A worker's young generation (MiB). V8 grows it to 16+ MiB while an accept burst leaves survivors (the
// client id strings) and keeps those pages after the burst: about 1 KB of RSS per connection for 8,000
// idle ones. Workers make little garbage per connection, so small scavenges cost little (bench/README.md).
const workerYoungGenerationMb = 4;

type Slot = {
  id: number;
  worker: Worker | undefined;
  state: 'starting' | 'listening' | 'restarting' | 'stopped';
  restarts: number;
  recentCrashes: number;
  lastStartMs: number;
  datapath: 'js' | 'splice' | undefined;
};

/** What a worker answers to a request the supervisor sends it. */
type Answer = Extract<FromWorker, { requestId: number }>;
type Request = Extract<ToWorker, { requestId: number }>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** What POST /debug/gc answers: V8 heap in use after a full GC, per thread (bytes). */
export type HeapAfterGc = { primary: number; workers: { id: number; usedHeapBytes: number }[]; total: number };

export type WorkerStatus = { id: number; state: Slot['state']; restarts: number; threadId: number | undefined; datapath: Slot['datapath'] };

/** Gives back what a dead worker held of the shared counts; returns how many clients it dropped. */
export type ReleaseWorker = (workerId: number) => number;

export class Supervisor {
  #config: ResolvedConfig;
  #tls: WorkerData['tls'];
  readonly #releaseWorker: ReleaseWorker;
  readonly #log: Logger;
  readonly #shared: WorkerData['shared'];
  readonly #epochMs: number;
  readonly #slots: Slot[] = [];
  readonly #pending = new Map<number, (m: Answer) => void>();
  #nextRequestId = 1;
  #stopping = false;
  #gc: (() => void) | undefined;

  readonly #logFormat: WorkerData['logFormat'];
  #listenerSlots: number[];

  constructor(config: ResolvedConfig, log: Logger, shared: WorkerData['shared'], epochMs: number, releaseWorker: ReleaseWorker, tls: WorkerData['tls'],
    logFormat: WorkerData['logFormat'], listenerSlots: number[]) {
    this.#config = config;
    this.#listenerSlots = listenerSlots;
    this.#logFormat = logFormat;
    this.#tls = tls;
    this.#releaseWorker = releaseWorker;
    this.#log = log;
    this.#shared = shared;
    this.#epochMs = epochMs;
  }

  /** Starts every worker; resolves once all listen, rejects (SLUICE_ERR_LISTEN) if one cannot bind. */
  async start(): Promise<void> {
    const ready: Promise<void>[] = [];
    for (let id = 1; id <= this.#config.workers; id++) {
      const slot: Slot = { id, worker: undefined, state: 'starting', restarts: 0, recentCrashes: 0, lastStartMs: 0, datapath: undefined };
      this.#slots.push(slot);
      ready.push(this.#spawn(slot));
    }
    await Promise.all(ready);
  }

  status(): WorkerStatus[] {
    return this.#slots.map((s) => ({ id: s.id, state: s.state, restarts: s.restarts, threadId: s.worker?.threadId, datapath: s.datapath }));
  }

  allListening(): boolean {
    return this.#slots.length > 0 && this.#slots.every((s) => s.state === 'listening');
  }

  /** Asks every listening worker for its forwarded clients; workers that do not answer in time are skipped. */
  async listClients(filter: { clientId?: string; limit: number }): Promise<{ clients: ClientRecord[]; total: number }> {
    const answers = await this.#askAll({ type: 'list-clients', clientId: filter.clientId, limit: filter.limit });
    const clients: ClientRecord[] = [];
    let total = 0;
    for (const a of answers) {
      if (a?.type !== 'clients') continue;
      total += a.total;
      for (const c of a.clients) if (clients.length < filter.limit) clients.push(c);
    }
    return { clients, total };
  }

  /** The splice data path of every listening worker, summed (pairs forwarding, pipes pooled and in use, holds). */
  async datapathStats(): Promise<DatapathStats> {
    const sum: DatapathStats = { pairs: 0, pipesPooled: 0, pipesInUse: 0, holds: 0 };
    for (const a of await this.#askAll({ type: 'datapath-stats' })) {
      if (a?.type !== 'datapath-stats') continue;
      sum.pairs += a.stats.pairs;
      sum.pipesPooled += a.stats.pipesPooled;
      sum.pipesInUse += a.stats.pipesInUse;
      sum.holds += a.stats.holds;
    }
    return sum;
  }

  /** Tells every worker something that needs no answer. */
  broadcast(m: Extract<ToWorker, { type: 'tls-ticket-keys' | 'tls-material' | 'brokers' | 'close-on-broker' | 'move-to-broker' | 'runtime' | 'shutdown' }>): void {
    for (const s of this.#slots) s.worker?.postMessage(m);
  }

  /** A reload's log level and idle limit: workers started from now on get them; running ones are told. */
  setRuntime(logLevel: ResolvedConfig['log']['level'], idle: ResolvedConfig['limits']['idle']): void {
    this.#config = { ...this.#config, log: { ...this.#config.log, level: logLevel }, limits: { ...this.#config.limits, idle } };
    this.broadcast({ type: 'runtime', logLevel, idle });
  }

  /** A new broker set and balance settings: workers started from now on get them; running ones are told. */
  setBrokers(brokers: ResolvedConfig['brokers'], balance: ResolvedConfig['balance']): void {
    this.#config = { ...this.#config, brokers, balance };
    this.broadcast({ type: 'brokers', brokers, balance });
  }

  /**
   * A reload's listeners (all of them) and their TLS material: workers started from now on get them;
   * every listening worker opens the new ones and closes the gone ones. The first worker's failure (a
   * worker that does not answer in time counts as one), or undefined when every worker took them.
   */
  async setListeners(listeners: ResolvedConfig['listeners'], tls: WorkerData['tls'], slots: number[]): Promise<{ address: string; error: string } | undefined> {
    this.#config = { ...this.#config, listeners };
    this.#tls = tls;
    this.#listenerSlots = slots;
    const answers = await this.#askAll({ type: 'listeners', listeners, tls, slots });
    for (const a of answers) {
      if (a === undefined) return { address: '', error: 'a worker did not answer in time' };
      if (a.type === 'listeners-applied' && a.failed) return a.failed;
    }
    return undefined;
  }

  /** Reloaded certificates: workers started from now on get these; running ones are told (broadcast). */
  setTls(tls: WorkerData['tls']): void {
    this.#tls = tls;
    this.broadcast({ type: 'tls-material', material: tls });
  }

  /** Test hook (SLUICE_TEST_HOOKS=1 only): makes worker `id` throw, to exercise replacement. */
  crashWorker(id: number): boolean {
    const w = this.#slots.find((s) => s.id === id)?.worker;
    if (!w || process.env.SLUICE_TEST_HOOKS !== '1') return false;
    w.postMessage({ type: 'crash' } satisfies ToWorker);
    return true;
  }

  /** Test hook (SLUICE_TEST_HOOKS=1 only): a full GC on every listening worker and the primary, then
   *  each thread's V8 heap in use, so a bench can tell retained objects from garbage. */
  async collectGarbage(): Promise<HeapAfterGc | undefined> {
    if (process.env.SLUICE_TEST_HOOKS !== '1') return undefined;
    const workers: HeapAfterGc['workers'] = [];
    const listening = this.#slots.filter((s) => s.state === 'listening' && s.worker);
    const answers = await Promise.all(listening.map((s) => this.#ask(s.worker!, { type: 'gc' })));
    answers.forEach((a, i) => { if (a?.type === 'heap') workers.push({ id: listening[i].id, usedHeapBytes: a.usedHeapBytes }); });
    // Exposed on first use, as in the worker: the flag set at run time gives a fresh context its gc global.
    if (!this.#gc) { setFlagsFromString('--expose-gc'); this.#gc = runInNewContext('gc') as () => void; }
    this.#gc();
    const primary = getHeapStatistics().used_heap_size;
    return { primary, workers, total: primary + workers.reduce((n, w) => n + w.usedHeapBytes, 0) };
  }

  /** Shutting down: no worker is replaced, and /readyz says not ready. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /**
   * Stops listening everywhere; open connections get `drainMs` to end, then each worker closes the rest
   * and ends. A worker that has not ended a few seconds after that is terminated. Called again (a second
   * signal), the drain ends now.
   */
  async stop(drainMs: number): Promise<void> {
    this.#stopping = true;
    for (const s of this.#slots) s.worker?.postMessage({ type: 'shutdown', drainMs } satisfies ToWorker);
    await Promise.all(this.#slots.map(async (s) => {
      const w = s.worker;
      if (!w) return;
      const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
      const timer = setTimeout(() => void w.terminate(), drainMs + kStopMarginMs);
      await exited;
      clearTimeout(timer);
      s.state = 'stopped';
    }));
  }

  /** Sends `request` to every listening worker; a worker that does not answer in time gives undefined. */
  #askAll(request: DistributiveOmit<Request, 'requestId'>): Promise<(Answer | undefined)[]> {
    return Promise.all(this.#slots.filter((s) => s.state === 'listening' && s.worker).map((s) => this.#ask(s.worker!, request)));
  }

  #ask(worker: Worker, request: DistributiveOmit<Request, 'requestId'>): Promise<Answer | undefined> {
    const requestId = this.#nextRequestId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.#pending.delete(requestId); resolve(undefined); }, adminQueryTimeoutMs);
      this.#pending.set(requestId, (m) => { clearTimeout(timer); this.#pending.delete(requestId); resolve(m); });
      worker.postMessage({ ...request, requestId } as ToWorker);
    });
  }

  #spawn(slot: Slot): Promise<void> {
    return new Promise((resolve, reject) => {
      const data: WorkerData = { workerId: slot.id, config: this.#config, epochMs: this.#epochMs, shared: this.#shared, tls: this.#tls, logFormat: this.#logFormat, listenerSlots: this.#listenerSlots };
      const worker = new Worker(workerEntry, { workerData: data, name: `sluice-worker-${slot.id}`, resourceLimits: { maxYoungGenerationSizeMb: workerYoungGenerationMb } });
      slot.worker = worker;
      slot.state = 'starting';
      slot.lastStartMs = Date.now();
      let settled = false;
      worker.on('message', (m: FromWorker) => {
        switch (m.type) {
          case 'listening':
            slot.state = 'listening';
            slot.datapath = m.datapath;
            this.#log.info({ workerId: slot.id, threadId: worker.threadId, addresses: m.addresses, datapath: m.datapath }, 'worker listening');
            if (!settled) { settled = true; resolve(); }
            break;
          case 'listen-failed':
            this.#log.error({ workerId: slot.id, address: m.address, error: m.error }, 'worker cannot listen');
            if (!settled) { settled = true; reject(new SluiceError(ErrorCode.listen, `cannot listen on ${m.address}: ${m.error}`)); }
            void worker.terminate();
            break;
          case 'clients':
          case 'datapath-stats':
          case 'heap':
          case 'listeners-applied':
            this.#pending.get(m.requestId)?.(m);
            break;
        }
      });
      worker.on('error', (err) => {
        this.#log.error({ workerId: slot.id, err }, 'worker thread failed');
      });
      worker.on('exit', (code) => {
        if (slot.worker === worker) slot.worker = undefined;
        // The thread is gone, and every connection it had with it: release its share of the counts
        // before a replacement (same slot) starts counting in it.
        const dropped = this.#releaseWorker(slot.id);
        if (this.#stopping) return;
        if (!settled) { settled = true; reject(new SluiceError(ErrorCode.worker, `worker ${slot.id} exited during start (code ${code})`)); return; }
        // Crash loops back off: quick restarts for a one-off death, up to 5 s for a worker that keeps dying.
        slot.recentCrashes = Date.now() - slot.lastStartMs > 60_000 ? 1 : slot.recentCrashes + 1;
        const delayMs = Math.min(maxRestartDelayMs, 100 * 2 ** (slot.recentCrashes - 1));
        slot.state = 'restarting';
        slot.restarts++;
        this.#log.error({ workerId: slot.id, exitCode: code, droppedClients: dropped, restartInMs: delayMs, restarts: slot.restarts }, 'worker died; replacing it');
        setTimeout(() => {
          if (this.#stopping) return;
          this.#spawn(slot).catch((err: Error) => this.#log.error({ workerId: slot.id, err: err.message }, 'worker replacement failed'));
        }, delayMs);
      });
    });
  }
}
