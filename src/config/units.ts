// Parses human units in the config file: durations ("10s", "2h", "250ms") and sizes ("64KiB", "1MiB").

const durationUnitsMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const sizeUnits: Record<string, number> = {
  '': 1, b: 1, kb: 1000, kib: 1024, mb: 1_000_000, mib: 1024 ** 2, gb: 1_000_000_000, gib: 1024 ** 3,
};

/** A parsed value, or why the text is not one (the reason names the value as written). */
export type UnitResult = { ok: true; value: number } | { ok: false; reason: string };

/** A config value as an operator would recognise it in a message: strings quoted and cut short. */
export function showValue(value: unknown): string {
  if (typeof value === 'string') {
    const text = JSON.stringify(value);
    return text.length > 60 ? `${text.slice(0, 56)}..."` : text;
  }
  if (Array.isArray(value)) return 'a list';
  if (value !== null && typeof value === 'object') return 'a mapping'; // never stringified: YAML aliases can make cycles
  return String(value); // numbers (Infinity, NaN stay readable), booleans, null
}

/** "10s" -> 10000; a bare number is milliseconds; rounded to whole milliseconds. */
export function readDurationMs(value: string | number): UnitResult {
  const example = '(use e.g. 500ms, 10s, 2h)';
  let ms: number;
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return { ok: false, reason: `not a duration: NaN ${example}` };
    if (value < 0) return { ok: false, reason: `negative duration: ${showValue(value)}` };
    ms = Math.round(value);
  } else {
    if (/^\s*-/.test(value)) return { ok: false, reason: `negative duration: ${showValue(value)}` };
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(value);
    if (!m) return { ok: false, reason: `not a duration: ${showValue(value)} ${example}` };
    ms = Math.round(Number(m[1]) * durationUnitsMs[(m[2] ?? 'ms').toLowerCase()]);
  }
  // Past 2^53 milliseconds (285,000 years) numbers stop being exact; no setting needs that.
  if (!Number.isSafeInteger(ms)) return { ok: false, reason: `duration too large: ${showValue(value)}` };
  return { ok: true, value: ms };
}

/** "64KiB" -> 65536; a bare number is bytes (whole); fractions of a unit are rounded to whole bytes. */
export function readSizeBytes(value: string | number): UnitResult {
  const example = '(use e.g. 65536, 64KiB, 1MiB)';
  let bytes: number;
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return { ok: false, reason: `not a size: NaN ${example}` };
    if (value < 0) return { ok: false, reason: `negative size: ${showValue(value)}` };
    if (Number.isFinite(value) && !Number.isInteger(value)) return { ok: false, reason: `not a whole number of bytes: ${showValue(value)}` };
    bytes = value;
  } else {
    if (/^\s*-/.test(value)) return { ok: false, reason: `negative size: ${showValue(value)}` };
    const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?\s*$/i.exec(value);
    if (!m) return { ok: false, reason: `not a size: ${showValue(value)} ${example}` };
    bytes = Math.round(Number(m[1]) * sizeUnits[(m[2] ?? '').toLowerCase()]);
  }
  if (!Number.isSafeInteger(bytes)) return { ok: false, reason: `size too large: ${showValue(value)}` };
  return { ok: true, value: bytes };
}

/** "10s" -> 10000; a bare number is milliseconds. Returns undefined when the text is not a duration. */
export function parseDurationMs(value: string | number): number | undefined {
  const r = readDurationMs(value);
  return r.ok ? r.value : undefined;
}

/** "64KiB" -> 65536; a bare number is bytes. Returns undefined when the text is not a size. */
export function parseSizeBytes(value: string | number): number | undefined {
  const r = readSizeBytes(value);
  return r.ok ? r.value : undefined;
}

/** Milliseconds as the shortest unit that is exact, for messages: 86400000 -> "1d", 1500 -> "1500ms". */
export function formatDurationMs(ms: number): string {
  for (const [unit, size] of Object.entries(durationUnitsMs).reverse()) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * "127.0.0.1:1883" / "[::1]:1883" / "localhost:1883" / ":1883" -> host and port. An empty host
 * (":1883") comes back as undefined: all addresses. Port 0 is returned as is (callers refuse it).
 */
/** The other way: host and port as parseHostPort reads them (an IPv6 address in brackets; no host: ":port"). */
export function formatHostPort(host: string | undefined, port: number): string {
  if (host === undefined) return `:${port}`;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function parseHostPort(value: string): { host: string | undefined; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? (m[2] || undefined), port };
}
