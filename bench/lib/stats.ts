// Result math (pure): medians and spread of repeated runs, ratios between targets.

export type Summary = { median: number; min: number; max: number; spreadPct: number; n: number };

export function summarize(samples: number[]): Summary | undefined {
  const xs = samples.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (xs.length === 0) return undefined;
  const mid = xs.length >> 1;
  const median = xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
  const min = xs[0];
  const max = xs[xs.length - 1];
  // Spread as (max - min) / median: with 3 runs on a shared machine that is the honest noise figure.
  const spreadPct = median !== 0 ? ((max - min) / Math.abs(median)) * 100 : 0;
  return { median, min, max, spreadPct, n: xs.length };
}

/** a / b of medians, or undefined where either is missing or b is 0. */
export function ratio(a: Summary | undefined, b: Summary | undefined): number | undefined {
  if (!a || !b || b.median === 0) return undefined;
  return a.median / b.median;
}

/** Percentile (0..100) of raw samples by nearest rank; for small sample sets where a histogram is overkill. */
export function percentile(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/** Client ids seen on more than one backend: each is a sticky violation. */
export function stickyViolations(idsPerBackend: string[][]): number {
  const seen = new Map<string, number>();
  idsPerBackend.forEach((ids, backend) => {
    for (const id of new Set(ids)) seen.set(id, seen.has(id) && seen.get(id) !== backend ? -1 : backend);
  });
  let violations = 0;
  for (const v of seen.values()) if (v === -1) violations++;
  return violations;
}

/** Human figures for the table: 1234567 -> "1.23M". */
export function formatNumber(x: number | undefined, digits = 3): string {
  if (x === undefined || !Number.isFinite(x)) return '-';
  const abs = Math.abs(x);
  if (abs >= 1e9) return `${(x / 1e9).toPrecision(digits)}G`;
  if (abs >= 1e6) return `${(x / 1e6).toPrecision(digits)}M`;
  if (abs >= 1e4) return `${(x / 1e3).toPrecision(digits)}k`;
  if (abs >= 100) return x.toFixed(0);
  return x.toPrecision(digits);
}
