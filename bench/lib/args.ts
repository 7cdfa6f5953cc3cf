// Command-line options of the benchmark harness (pure: parsed from argv, tested directly).
import { parseArgs } from 'node:util';

export const allTargets = ['direct', 'c-splice', 'haproxy-tcp', 'haproxy-mqtt', 'sluice-js', 'sluice-splice', 'haproxy-tls', 'node-tls', 'sluice-tls'] as const;
export type TargetName = (typeof allTargets)[number];
/** The targets that terminate TLS (HAProxy `ssl crt`; a bare Node TLS proxy; Sluice mqtts, ws and wss
 *  listeners): the tls-* and ws-* workloads run on these only, every other workload on the rest. */
export const tlsTargets: readonly TargetName[] = ['haproxy-tls', 'node-tls', 'sluice-tls'];
export const allWorkloads = ['throughput', 'small-writes', 'connrate', 'latency', 'iot', 'idle', 'mosquitto',
  'tls-handshakes', 'tls-throughput', 'tls-idle', 'ws-throughput'] as const;
export type WorkloadName = (typeof allWorkloads)[number];

export type BenchOptions = {
  quick: boolean;
  targets: TargetName[];
  workloads: WorkloadName[];
  repeats: number;
  seconds: number; // measured time per run
  payloadSizes: number[]; // throughput payloads, bytes
  throughputConns: number;
  smallWritesSize: number; // small-writes: payload bytes
  smallWritesPerWrite: number; // small-writes: whole packets per send()
  smallWritesConns: number;
  connrateInflight: number;
  connrateIds: number; // distinct client ids cycled during connrate (sticky check)
  latencyRate: number; // messages/s, aggregate
  latencyConns: number;
  iotConns: number; // iot: connections, each echoing its share of iotRate
  iotRate: number; // iot: messages/s, all connections together
  iotSize: number; // iot: payload bytes
  idleConns: number;
  tlsHandshakeThreads: number; // tls-handshakes: handshake loops in parallel
  tlsIdleConns: number; // tls-idle: idle TLS connections held
  workers: number[]; // balancer threads, one pass per count: HAProxy nbthread and Sluice workers
  pin: boolean; // pin the balancer to CPU 0 and the load generator + backends to CPU 1
  out: string | undefined; // results directory
};

export const usage = `npm run bench [-- options]
  --quick                  short run (under 2 minutes): 1 repeat, 1 s runs, payloads 64 B and 16 KiB
  --targets a,b            of: ${allTargets.join(', ')} (default: all available)
  --workloads a,b          of: ${allWorkloads.join(', ')} (default: all)
  --repeats N              runs per target x workload (default 3; median and spread reported)
  --seconds T              measured seconds per run (default 3)
  --sizes 64,1024,16384    throughput payload sizes in bytes
  --conns N                throughput connections (default 16)
  --small-writes S,N,C     small-writes shape: S-byte payloads, N packets per write, C connections (default 64,16,8)
  --inflight K             connection-rate connections in flight (default 64)
  --ids N                  distinct client ids cycled in the connection-rate run (default 500)
  --rate R                 latency workload messages/s (default 2000)
  --iot C,R,S              iot shape: C connections, R messages/s in all, S-byte payloads (default 2000,20000,100)
  --idle-conns N           idle connections held for the memory workload (default 8000; 2000 with --quick)
  --tls-threads N          tls-handshakes: handshake loops in parallel (default 16)
  --tls-idle-conns N       tls-idle: idle TLS connections held (default 4000; 1000 with --quick)
  --workers N[,M...]       balancer threads (HAProxy nbthread = Sluice workers; default 1); a list runs
                           every workload once per count, e.g. --workers 1,2 (see bench/README.md)
  --no-pin                 do not pin processes to CPUs
  --out DIR                results directory (default bench/results)
`;

export function parseBenchArgs(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean', default: false },
      targets: { type: 'string' },
      workloads: { type: 'string' },
      repeats: { type: 'string' },
      seconds: { type: 'string' },
      sizes: { type: 'string' },
      conns: { type: 'string' },
      inflight: { type: 'string' },
      ids: { type: 'string' },
      rate: { type: 'string' },
      'small-writes': { type: 'string' },
      iot: { type: 'string' },
      'idle-conns': { type: 'string' },
      'tls-threads': { type: 'string' },
      'tls-idle-conns': { type: 'string' },
      workers: { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) throw new UsageError('');
  const quick = values.quick;
  const [smallWritesSize, smallWritesPerWrite, smallWritesConns] = triple(values['small-writes'], 'small-writes', [64, 16, 8], [[1, 1 << 20], [1, 65536], [1, 10_000]]);
  const [iotConns, iotRate, iotSize] = triple(values.iot, 'iot', [2000, 20_000, 100], [[1, 19_000], [1, 1_000_000], [8, 1 << 20]]);
  const workers = values.workers?.split(',').map((w) => int(w.trim(), 'workers', 1, 256)!) ?? [1];
  if (new Set(workers).size !== workers.length) throw new UsageError(`--workers: a count is listed twice in "${values.workers}"`);
  return {
    quick,
    targets: list(values.targets, allTargets, 'targets') ?? [...allTargets],
    workloads: list(values.workloads, allWorkloads, 'workloads') ?? [...allWorkloads],
    repeats: int(values.repeats, 'repeats', 1, 50) ?? (quick ? 1 : 3),
    seconds: num(values.seconds, 'seconds', 0.2, 600) ?? (quick ? 1 : 3),
    payloadSizes: values.sizes ? values.sizes.split(',').map((s) => int(s, 'sizes', 1, 1 << 24)!) : quick ? [64, 16384] : [64, 1024, 16384],
    throughputConns: int(values.conns, 'conns', 1, 10_000) ?? 16,
    smallWritesSize, smallWritesPerWrite, smallWritesConns,
    connrateInflight: int(values.inflight, 'inflight', 1, 10_000) ?? 64,
    connrateIds: int(values.ids, 'ids', 1, 1_000_000) ?? 500,
    latencyRate: int(values.rate, 'rate', 1, 1_000_000) ?? 2000,
    latencyConns: 4,
    iotConns, iotRate, iotSize,
    idleConns: int(values['idle-conns'], 'idle-conns', 1, 10_000_000) ?? (quick ? 2000 : 8000),
    tlsHandshakeThreads: int(values['tls-threads'], 'tls-threads', 1, 256) ?? 16,
    tlsIdleConns: int(values['tls-idle-conns'], 'tls-idle-conns', 1, 100_000) ?? (quick ? 1000 : 4000),
    workers,
    pin: !values['no-pin'],
    out: values.out,
  };
}

export class UsageError extends Error {}

function list<T extends string>(value: string | undefined, allowed: readonly T[], name: string): T[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const item of items) if (!allowed.includes(item as T)) throw new UsageError(`--${name}: unknown "${item}" (one of ${allowed.join(', ')})`);
  if (items.length === 0) throw new UsageError(`--${name}: empty list`);
  return items as T[];
}

/** "a,b,c" as three whole numbers, each within its range; `fallback` when the option is absent. */
function triple(value: string | undefined, name: string, fallback: [number, number, number], ranges: [number, number][]): [number, number, number] {
  if (value === undefined) return fallback;
  const parts = value.split(',');
  if (parts.length !== 3) throw new UsageError(`--${name}: expected three numbers a,b,c, got "${value}"`);
  return parts.map((p, i) => int(p.trim(), name, ranges[i][0], ranges[i][1])!) as [number, number, number];
}

function num(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name}: expected a number from ${min} to ${max}, got "${value}"`);
  return n;
}

function int(value: string | undefined, name: string, min: number, max: number): number | undefined {
  const n = num(value, name, min, max);
  if (n !== undefined && !Number.isInteger(n)) throw new UsageError(`--${name}: expected a whole number, got "${value}"`);
  return n;
}
