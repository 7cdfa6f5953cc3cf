// The admin /api/stats view, and the accounting every connection must satisfy: each accepted connection
// is pending, admitted (placing or forwarding), or ended with exactly one outcome counter.
import type { SluiceProcess } from './sluice.ts';

export type Stats = { counters: Record<string, number>; openClients: number; pendingClients: number };

/** The counters of which every accepted connection ends with exactly one. */
export const outcomeCounters = [
  'refused_not_connect', 'refused_malformed', 'refused_unsupported_protocol', 'refused_too_large',
  'refused_connect_timeout', 'refused_no_broker', 'refused_max_connections', 'refused_connect_rate', 'refused_client_id_mismatch', 'refused_bad_proxy_header', 'refused_unexpected_proxy_header',
  'refused_internal_error', 'client_closed_before_connect', 'client_ended_before_connect',
  'client_closed_while_placing', 'pending_evicted', 'connections_closed', 'connections_dropped_worker_exit',
] as const;

export async function stats(sluice: SluiceProcess): Promise<Stats> {
  return (await sluice.admin<Stats>('/api/stats')).body;
}

/** accepted minus (ended + pending + admitted): 0 when every connection is accounted for. */
export function unaccounted(s: Stats): number {
  const ended = outcomeCounters.reduce((n, c) => n + (s.counters[c] ?? 0), 0);
  return s.counters.connections_accepted - ended - s.pendingClients - s.openClients;
}

/** Polls stats until `ready` holds (counters are published by workers at once, bytes every second). */
export async function waitForStats(sluice: SluiceProcess, ready: (s: Stats) => boolean, what: string, timeoutMs = 5000): Promise<Stats> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await stats(sluice);
    if (ready(s)) return s;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
