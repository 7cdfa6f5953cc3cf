// Measurement, not a test: nanoseconds per counter add, the old shared BigInt64Array (a BigInt and an
// Atomics.add on a cache line all workers share) against per-worker slots (src/metrics/counters.ts),
// with 1 and 2 threads adding at once. Each thread times its own adds in thread CPU time (these cores are
// shared: a thread descheduled by other load would inflate wall time) and in wall time.
//   node_modules/.bin/node bench/counters-micro.ts [adds per thread=20000000] [runs=7]
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Counters, counterNames, type CounterName } from '../src/metrics/counters.ts';

type Impl = 'shared-bigint' | 'per-worker' | 'per-worker-plain';
type Job = { impl: Impl; sab: SharedArrayBuffer; workerId: number; adds: number };

const implNames: Record<Impl, string> = {
  'shared-bigint': 'before: shared BigInt64Array, Atomics.add(BigInt(n))',
  'per-worker': 'after: own slot, Int32 Atomics.add',
  'per-worker-plain': 'reference: own slot, plain store (not used)',
};
// The counters a connection's life adds, in turn (a call site passes a constant; the bench cycles).
const names: CounterName[] = ['connections_accepted', 'sticky_hits', 'connections_forwarded', 'connections_closed'];

/** The old src/metrics/counters.ts, as it was before per-worker slots: the "before" figure. */
class SharedBigIntCounters {
  readonly #cells: BigInt64Array;
  static readonly index = Object.fromEntries(counterNames.map((n, i) => [n, i])) as Record<CounterName, number>;
  static allocate(): SharedArrayBuffer { return new SharedArrayBuffer(counterNames.length * 8); }
  constructor(sab: SharedArrayBuffer) { this.#cells = new BigInt64Array(sab); }
  add(name: CounterName, n = 1): void { Atomics.add(this.#cells, SharedBigIntCounters.index[name], BigInt(n)); }
}

/** Per-worker slots with single-writer plain stores: what Atomics.add costs on an uncontended line. */
class PlainSlotCounters {
  readonly #cells: Int32Array;
  readonly #base: number;
  static readonly index = Object.fromEntries(counterNames.map((n, i) => [n, i])) as Record<CounterName, number>;
  constructor(sab: SharedArrayBuffer, workerId: number) { this.#cells = new Int32Array(sab); this.#base = (workerId - 1) * 64; }
  add(name: CounterName, n = 1): void { const i = this.#base + PlainSlotCounters.index[name]; this.#cells[i] = (this.#cells[i] + n) | 0; }
}

function counting(job: Job): { add(name: CounterName, n?: number): void } {
  if (job.impl === 'shared-bigint') return new SharedBigIntCounters(job.sab);
  if (job.impl === 'per-worker-plain') return new PlainSlotCounters(job.sab, job.workerId);
  return new Counters(job.sab, job.workerId);
}

type Timing = { cpuNs: number; wallNs: number };

/** In a worker thread: warm up, then time `adds` adds; posts ns per add (thread CPU and wall). */
function runJob(job: Job): void {
  const counters = counting(job);
  for (let i = 0; i < 1_000_000; i++) counters.add(names[i & 3]);
  const cpu0 = process.threadCpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < job.adds; i++) counters.add(names[i & 3]);
  const wallNs = Number(process.hrtime.bigint() - t0);
  const cpu = process.threadCpuUsage(cpu0);
  parentPort!.postMessage({ cpuNs: ((cpu.user + cpu.system) * 1000) / job.adds, wallNs: wallNs / job.adds } satisfies Timing);
}

function runThread(job: Job): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: job });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

async function main(): Promise<void> {
  const adds = Number(process.argv[2] ?? 20_000_000);
  const runs = Number(process.argv[3] ?? 7);
  console.log(`ns per add, ${runs} runs of ${adds} adds per thread (threads at once; a run's figure is the mean over its threads)`);
  console.log(`${''.padEnd(56)}          cpu min  cpu median  wall median`);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const impl of Object.keys(implNames) as Impl[]) {
    for (const threads of [1, 2]) {
      const cpu: number[] = [];
      const wall: number[] = [];
      for (let r = 0; r < runs; r++) {
        const sab = impl === 'shared-bigint' ? SharedBigIntCounters.allocate() : Counters.allocate();
        const perThread = await Promise.all(Array.from({ length: threads }, (_, t) => runThread({ impl, sab, workerId: t + 1, adds })));
        cpu.push(perThread.reduce((a, b) => a + b.cpuNs, 0) / threads);
        wall.push(perThread.reduce((a, b) => a + b.wallNs, 0) / threads);
      }
      const f = (x: number) => `${x.toFixed(1).padStart(6)} ns`;
      console.log(`${implNames[impl].padEnd(56)} ${threads} thread${threads > 1 ? 's' : ' '}  ${f(Math.min(...cpu))}   ${f(median(cpu))}    ${f(median(wall))}`);
    }
  }
  console.log(`load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')} (other load on these cores blurs the 2-thread rows)`);
}

if (isMainThread) await main();
else runJob(workerData as Job);
