// A piscina task: reads and checks the TLS files of a config (src/tls/material.ts), off the primary's
// event loop (parsing certificates and matching keys is CPU work, and a reload must not stall the admin
// endpoint or the counters). The answer is plain data: PEM text, names, dates, or the problems found.
import { loadTlsMaterial, type TlsMaterial, type TlsWarning } from './material.ts';
import type { ResolvedConfig } from '../config/resolved.ts';

export type CheckAnswer =
  | { ok: true; material: (TlsMaterial | undefined)[]; warnings: TlsWarning[] }
  | { ok: false; error: string };

export default function checkTls(input: { config: ResolvedConfig; source: string }): CheckAnswer {
  try {
    return { ok: true, ...loadTlsMaterial(input.config, input.source) };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}
