// The goal rows a "connection engine" change is judged by (pure, tested): each names a workload row,
// the Sluice targets judged, an anchor (or an absolute bound), and the bound; judge() says whether
// the medians meet it and whether the spread of the runs could change that.
import type { TargetName } from './args.ts';
import { summarize, type Summary } from './stats.ts';

export type GoalRow = { name: string; variant: string; workers?: number; metric: string; unit: string; samples: Partial<Record<TargetName, number[]>> };

export type Goal = {
  workload: string; // the row's workload name (Row.name), e.g. 'connrate'
  variant?: string; // the row's variant, when one workload has several rows (throughput 16 KiB)
  metric: string;
  targets: TargetName[]; // the Sluice targets judged
  anchor: TargetName | 'absolute'; // a ratio to this target's median, or a bound on the value itself
  op: '>=' | '<=';
  value: number;
};

const both: TargetName[] = ['sluice-js', 'sluice-splice'];

/** The table: measured with 1 worker, pinned, in one run side by side. */
export const goals: Goal[] = [
  { workload: 'connrate', metric: 'connps', targets: both, anchor: 'haproxy-mqtt', op: '>=', value: 1.2 },
  { workload: 'connrate', metric: 'p99us', targets: both, anchor: 'haproxy-mqtt', op: '<=', value: 1.0 },
  { workload: 'idle', metric: 'bytesPerConn', targets: both, anchor: 'absolute', op: '<=', value: 1024 },
  { workload: 'iot', metric: 'cpuUsPerMsg', targets: both, anchor: 'haproxy-mqtt', op: '<=', value: 0.8 },
  { workload: 'iot', metric: 'p99us', targets: both, anchor: 'haproxy-mqtt', op: '<=', value: 1.0 },
  { workload: 'small-writes', metric: 'mbps', targets: ['sluice-splice'], anchor: 'haproxy-tcp', op: '>=', value: 1.0 },
  { workload: 'small-writes', metric: 'mbps', targets: ['sluice-splice'], anchor: 'sluice-js', op: '>=', value: 1.0 },
  { workload: 'throughput', variant: '16 KiB', metric: 'mbps', targets: ['sluice-splice'], anchor: 'c-splice', op: '>=', value: 1.0 },
  // Issue 12: at least HAProxy's handshake rate and throughput per core (the balancer pinned to one core,
  // so handshakes/s is the rate per core; CPU per handshake is the same goal read where the client is the limit).
  { workload: 'tls-handshakes', variant: 'full', metric: 'hsps', targets: ['sluice-tls'], anchor: 'haproxy-tls', op: '>=', value: 1.0 },
  { workload: 'tls-handshakes', variant: 'full', metric: 'cpuUsPerHs', targets: ['sluice-tls'], anchor: 'haproxy-tls', op: '<=', value: 1.0 },
  { workload: 'tls-handshakes', variant: 'resumed', metric: 'hsps', targets: ['sluice-tls'], anchor: 'haproxy-tls', op: '>=', value: 1.0 },
  { workload: 'tls-throughput', variant: '16 KiB', metric: 'mbps', targets: ['sluice-tls'], anchor: 'haproxy-tls', op: '>=', value: 1.0 },
  { workload: 'tls-throughput', variant: '16 KiB', metric: 'cpuPerGB', targets: ['sluice-tls'], anchor: 'haproxy-tls', op: '<=', value: 1.0 },
];

export type Verdict = 'met' | 'missed' | 'within spread, median meets' | 'within spread, median misses';

export type GoalResult = {
  workload: string; variant: string; metric: string; target: TargetName; anchor: Goal['anchor']; op: Goal['op']; value: number;
  /** Ratio of medians (or the median itself for an absolute goal). */
  median: number;
  /** Worst and best pairing of the runs: min/max .. max/min (or the samples' min .. max). */
  lo: number;
  hi: number;
  verdict: Verdict;
};

const short = (t: TargetName | 'absolute') => t.replace('sluice-', '');

/** "≥ 1.2x haproxy-mqtt", "≤ 1024 B/conn", "splice ≥ 1.0x js". */
export function goalText(g: Goal, unit: string, withTargets: boolean): string {
  const op = g.op === '>=' ? '≥' : '≤';
  const who = withTargets && g.targets.length < both.length ? `${g.targets.map(short).join(',')} ` : '';
  return g.anchor === 'absolute' ? `${who}${op} ${g.value} ${unit}` : `${who}${op} ${g.value.toFixed(1)}x ${short(g.anchor)}`;
}

export function goalsFor(row: Pick<GoalRow, 'name' | 'variant' | 'metric' | 'workers'>): Goal[] {
  if ((row.workers ?? 1) !== 1) return [];
  return goals.filter((g) => g.workload === row.name && g.metric === row.metric && (g.variant === undefined || g.variant === row.variant));
}

/** Met only if even the worst pairing of runs meets the bound; missed if even the best misses it. */
export function verdict(op: Goal['op'], value: number, median: number, lo: number, hi: number): Verdict {
  const meets = (x: number) => (op === '>=' ? x >= value : x <= value);
  const [worst, best] = op === '>=' ? [lo, hi] : [hi, lo];
  if (meets(worst)) return 'met';
  if (!meets(best)) return 'missed';
  return meets(median) ? 'within spread, median meets' : 'within spread, median misses';
}

export function judge(rows: GoalRow[]): GoalResult[] {
  const out: GoalResult[] = [];
  for (const row of rows) {
    for (const g of goalsFor(row)) {
      for (const target of g.targets) {
        const s = summarize(row.samples[target] ?? []);
        if (!s) continue;
        let r: { median: number; lo: number; hi: number } | undefined;
        if (g.anchor === 'absolute') r = { median: s.median, lo: s.min, hi: s.max };
        else r = ratioRange(s, summarize(row.samples[g.anchor] ?? []));
        if (!r) continue;
        out.push({ workload: row.name, variant: row.variant, metric: row.metric, target, anchor: g.anchor, op: g.op, value: g.value,
          ...r, verdict: verdict(g.op, g.value, r.median, r.lo, r.hi) });
      }
    }
  }
  return out;
}

/** Ratio of medians with its range over the runs: min/max .. max/min. Undefined if an anchor value is 0. */
export function ratioRange(a: Summary | undefined, b: Summary | undefined): { median: number; lo: number; hi: number } | undefined {
  if (!a || !b || b.median === 0 || b.min <= 0 || b.max <= 0) return undefined;
  return { median: a.median / b.median, lo: a.min / b.max, hi: a.max / b.min };
}
