// Turns bench results into the terminal table (medians, spread, ratios) and an HTML page of bar charts.
import type { TargetName } from './args.ts';
import { formatNumber, ratio, summarize, type Summary } from './stats.ts';

export type Row = { workload: string; metric: string; unit: string; better: 'higher' | 'lower'; samples: Partial<Record<TargetName, number[]>> };
export type BenchResult = {
  meta: Record<string, unknown>;
  targets: TargetName[];
  skipped: Record<string, string>;
  rows: Row[];
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
  const header = ['workload', 'metric', ...targets, ...cols.map((c) => c.label)];
  const lines: string[][] = [header];
  for (const row of result.rows) {
    const s = summaries(row, targets);
    lines.push([
      row.workload,
      `${row.metric} (${row.unit}, ${row.better === 'higher' ? '↑' : '↓'})`,
      ...targets.map((t) => (s[t] ? `${formatNumber(s[t]!.median)} ±${s[t]!.spreadPct.toFixed(0)}%` : '-')),
      ...cols.map((c) => { const r = ratio(s[c.sluice], s[c.anchor]); return r === undefined ? '-' : r.toFixed(2); }),
    ]);
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const fmt = (l: string[]) => l.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd();
  const skipped = Object.entries(result.skipped).map(([t, why]) => `skipped ${t}: ${why}`);
  return [fmt(lines[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.slice(1).map(fmt), ...skipped].join('\n') + '\n';
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
<h2>Table</h2><pre>${esc(renderTable(result))}</pre></body></html>\n`;
}
