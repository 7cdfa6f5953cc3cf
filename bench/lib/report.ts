// Turns bench results into the terminal table (medians, spread, ratios) and an HTML page of bar charts.
import type { TargetName } from './args.ts';
import { goalsFor, goalText, judge, type GoalResult } from './goals.ts';
import { formatNumber, ratio, summarize, type Summary } from './stats.ts';

/** One workload x metric (at one worker count): every target's samples. `workload` is the display label. */
export type Row = {
  workload: string; name: string; variant: string; workers?: number;
  metric: string; unit: string; better: 'higher' | 'lower'; samples: Partial<Record<TargetName, number[]>>;
};
export type BenchResult = {
  meta: Record<string, unknown>;
  targets: TargetName[];
  skipped: Record<string, string>;
  rows: Row[];
  goals?: GoalResult[]; // judge(rows), written along for readers of the JSON
};

const sluiceTargets: TargetName[] = ['sluice-js', 'sluice-splice'];
const anchors: TargetName[] = ['haproxy-mqtt', 'haproxy-tcp', 'c-splice', 'direct'];

export type RatioColumn = { sluice: TargetName; anchor: TargetName; label: string };

export function ratioColumns(targets: TargetName[]): RatioColumn[] {
  const cols: RatioColumn[] = [];
  for (const s of sluiceTargets) {
    if (!targets.includes(s)) continue;
    for (const a of anchors) if (targets.includes(a)) cols.push({ sluice: s, anchor: a, label: `${s.replace('sluice-', '')}/${a}` });
  }
  // The native path against the JS path (a goal of the small-writes shape).
  if (targets.includes('sluice-splice') && targets.includes('sluice-js')) cols.push({ sluice: 'sluice-splice', anchor: 'sluice-js', label: 'splice/js' });
  // TLS targets run their own workloads: terminating TLS is compared with terminating TLS only.
  if (targets.includes('sluice-tls') && targets.includes('haproxy-tls')) cols.push({ sluice: 'sluice-tls', anchor: 'haproxy-tls', label: 'tls/haproxy-tls' });
  // A bare Node TLS proxy: the floor of TLS on Node sockets, against HAProxy and under Sluice.
  if (targets.includes('node-tls') && targets.includes('haproxy-tls')) cols.push({ sluice: 'node-tls', anchor: 'haproxy-tls', label: 'node-tls/haproxy-tls' });
  if (targets.includes('sluice-tls') && targets.includes('node-tls')) cols.push({ sluice: 'sluice-tls', anchor: 'node-tls', label: 'tls/node-tls' });
  return cols;
}

export function summaries(row: Row, targets: TargetName[]): Partial<Record<TargetName, Summary>> {
  const out: Partial<Record<TargetName, Summary>> = {};
  for (const t of targets) {
    const s = summarize(row.samples[t] ?? []);
    if (s) out[t] = s;
  }
  return out;
}

export function renderTable(result: BenchResult): string {
  const targets = result.targets;
  const cols = ratioColumns(targets);
  const header = ['workload', 'metric', ...targets, ...cols.map((c) => c.label), 'goal'];
  const lines: string[][] = [header];
  for (const row of result.rows) {
    const s = summaries(row, targets);
    lines.push([
      row.workload,
      `${row.metric} (${row.unit}, ${row.better === 'higher' ? '↑' : '↓'})`,
      ...targets.map((t) => (s[t] ? `${formatNumber(s[t]!.median)} ±${s[t]!.spreadPct.toFixed(0)}%` : '-')),
      ...cols.map((c) => { const r = ratio(s[c.sluice], s[c.anchor]); return r === undefined ? '-' : r.toFixed(2); }),
      goalsFor(row).map((g) => goalText(g, row.unit, true)).join('; '),
    ]);
  }
  const skipped = Object.entries(result.skipped).map(([t, why]) => `skipped ${t}: ${why}`);
  return [...grid(lines), ...skipped].join('\n') + '\n';
}

/** Header, a rule, then the rows, each column padded to its widest cell. */
function grid(lines: string[][]): string[] {
  const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const fmt = (l: string[]) => l.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd();
  return [fmt(lines[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.slice(1).map(fmt)];
}

/**
 * The goal rows: each Sluice target against its goal, the ratio of medians, its range over the runs
 * (worst to best pairing: min/max .. max/min) and whether the goal is met given that range.
 */
export function renderGoals(result: BenchResult): string {
  const judged = result.goals ?? judge(result.rows);
  if (judged.length === 0) return '';
  const unitOf = new Map(result.rows.map((r) => [`${r.name}|${r.variant}|${r.metric}`, r.unit]));
  const fmt = (x: number) => (Math.abs(x) >= 100 ? formatNumber(x) : x.toFixed(2));
  const lines = [['goal row (1 worker)', 'metric', 'target', 'vs', 'value', 'range over runs', 'goal', 'verdict']];
  for (const g of judged) {
    const unit = unitOf.get(`${g.workload}|${g.variant}|${g.metric}`) ?? '';
    lines.push([
      `${g.workload} ${g.variant}`, g.metric, g.target, g.anchor === 'absolute' ? '-' : g.anchor,
      g.anchor === 'absolute' ? `${fmt(g.median)} ${unit}` : `${g.median.toFixed(2)}x`,
      g.anchor === 'absolute' ? `${fmt(g.lo)}-${fmt(g.hi)}` : `${g.lo.toFixed(2)}-${g.hi.toFixed(2)}x`,
      `${g.op === '>=' ? '≥' : '≤'} ${g.anchor === 'absolute' ? `${g.value} ${unit}` : `${g.value.toFixed(1)}x`}`,
      g.verdict,
    ]);
  }
  const met = judged.filter((g) => g.verdict === 'met').length;
  return [...grid(lines), `${met} of ${judged.length} goal rows met beyond the spread`].join('\n') + '\n';
}

const scalingMetrics = new Set(['connps', 'mbps', 'msgps']);

/** With several worker counts: each target's median at N workers over its median at 1 worker. */
export function renderScaling(result: BenchResult): string {
  const targets = result.targets;
  const base = new Map(result.rows.filter((r) => (r.workers ?? 1) === 1).map((r) => [`${r.name}|${r.variant}|${r.metric}`, r]));
  const lines = [['scaling (median at N workers / at 1)', 'metric', 'N', ...targets]];
  for (const row of result.rows) {
    if ((row.workers ?? 1) === 1 || !scalingMetrics.has(row.metric)) continue;
    const one = base.get(`${row.name}|${row.variant}|${row.metric}`);
    if (!one) continue;
    const s = summaries(row, targets);
    const s1 = summaries(one, targets);
    lines.push([`${row.name} ${row.variant}`, row.metric, String(row.workers), ...targets.map((t) => {
      const r = ratio(s[t], s1[t]);
      return r === undefined ? '-' : `${r.toFixed(2)}x`;
    })]);
  }
  return lines.length > 1 ? grid(lines).join('\n') + '\n' : '';
}

/** Everything the terminal shows: the table, the goal rows, and scaling when there are several passes. */
export function renderReport(result: BenchResult): string {
  return [renderTable(result), renderGoals(result), renderScaling(result)].filter(Boolean).join('\n');
}

const colors: Record<string, string> = {
  direct: '#8c8c8c', 'c-splice': '#555555', 'haproxy-tcp': '#e6a23c', 'haproxy-mqtt': '#d9534f', 'sluice-js': '#5b8def', 'sluice-splice': '#2e5cb8',
};

/** A self-contained HTML page: one horizontal bar chart (SVG) per workload metric, plus the table. */
export function renderHtml(result: BenchResult): string {
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const charts = result.rows.map((row) => {
    const s = summaries(row, result.targets);
    const present = result.targets.filter((t) => s[t]);
    if (present.length === 0) return '';
    const max = Math.max(...present.map((t) => s[t]!.max));
    const barH = 22;
    const width = 560;
    const labelW = 120;
    const bars = present.map((t, i) => {
      const y = i * (barH + 6);
      const w = max > 0 ? ((width - labelW - 150) * s[t]!.median) / max : 0;
      const lo = max > 0 ? ((width - labelW - 150) * s[t]!.min) / max : 0;
      const hi = max > 0 ? ((width - labelW - 150) * s[t]!.max) / max : 0;
      return `<text x="0" y="${y + 15}" font-size="12">${t}</text>` +
        `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${colors[t] ?? '#666'}"/>` +
        `<line x1="${labelW + lo}" x2="${labelW + hi}" y1="${y + barH / 2}" y2="${y + barH / 2}" stroke="#000" stroke-width="1.5"/>` +
        `<text x="${labelW + w + 8}" y="${y + 15}" font-size="12">${esc(formatNumber(s[t]!.median))} ${esc(row.unit)} ±${s[t]!.spreadPct.toFixed(0)}%</text>`;
    }).join('');
    const h = present.length * (barH + 6);
    return `<figure><figcaption><b>${esc(row.workload)}</b>: ${esc(row.metric)} (${esc(row.unit)}; ${row.better} is better)</figcaption>` +
      `<svg width="${width}" height="${h}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif">${bars}</svg></figure>`;
  }).join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><title>Sluice bench ${esc(String(result.meta.date ?? ''))}</title>
<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}figure{display:inline-block;margin:0 2em 2em 0;vertical-align:top}pre{background:#f6f6f6;padding:1em;overflow-x:auto}</style></head>
<body><h1>Sluice vs HAProxy vs direct</h1>
<p>${esc(JSON.stringify(result.meta))}</p>
<p>Bars are medians of repeated runs; the black line spans min to max.</p>
${charts}
<h2>Table</h2><pre>${esc(renderReport(result))}</pre></body></html>\n`;
}
