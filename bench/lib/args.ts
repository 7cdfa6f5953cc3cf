// Command-line options of the benchmark harness (pure: parsed from argv, tested directly).
import { parseArgs } from 'node:util';

export const allTargets = ['direct', 'c-splice', 'haproxy-tcp', 'haproxy-mqtt', 'sluice-js', 'sluice-splice'] as const;
export type TargetName = (typeof allTargets)[number];
export const allWorkloads = ['throughput', 'connrate', 'latency', 'idle', 'mosquitto'] as const;
export type WorkloadName = (typeof allWorkloads)[number];

export type BenchOptions = {
  quick: boolean;
  targets: TargetName[];
  workloads: WorkloadName[];
  repeats: number;
  seconds: number; // measured time per run
  payloadSizes: number[]; // throughput payloads, bytes
  throughputConns: number;
  connrateInflight: number;
  connrateIds: number; // distinct client ids cycled during connrate (sticky check)
  latencyRate: number; // messages/s, aggregate
  latencyConns: number;
  idleConns: number;
  workers: number; // balancer threads: HAProxy nbthread and Sluice workers
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
  --inflight K             connection-rate connections in flight (default 32)
  --ids N                  distinct client ids cycled in the connection-rate run (default 500)
  --rate R                 latency workload messages/s (default 2000)
  --idle-conns N           idle connections held for the memory workload (default 7000)
  --workers N              balancer threads (HAProxy nbthread = Sluice workers; default 1)
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
      'idle-conns': { type: 'string' },
      workers: { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) throw new UsageError('');
  const quick = values.quick;
  return {
    quick,
    targets: list(values.targets, allTargets, 'targets') ?? [...allTargets],
    workloads: list(values.workloads, allWorkloads, 'workloads') ?? [...allWorkloads],
    repeats: int(values.repeats, 'repeats', 1, 50) ?? (quick ? 1 : 3),
    seconds: num(values.seconds, 'seconds', 0.2, 600) ?? (quick ? 1 : 3),
    payloadSizes: values.sizes ? values.sizes.split(',').map((s) => int(s, 'sizes', 1, 1 << 24)!) : quick ? [64, 16384] : [64, 1024, 16384],
    throughputConns: int(values.conns, 'conns', 1, 10_000) ?? 16,
    connrateInflight: int(values.inflight, 'inflight', 1, 10_000) ?? 32,
    connrateIds: int(values.ids, 'ids', 1, 1_000_000) ?? 500,
    latencyRate: int(values.rate, 'rate', 1, 1_000_000) ?? 2000,
    latencyConns: 4,
    idleConns: int(values['idle-conns'], 'idle-conns', 1, 10_000_000) ?? (quick ? 2000 : 7000),
    workers: int(values.workers, 'workers', 1, 256) ?? 1,
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
