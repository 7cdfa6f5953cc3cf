// One HTTP readiness check of a broker, with undici: GET scheme://broker-host:port/path, any 2xx passes.
// For brokers that say whether they want clients: EMQX /api/v5/load_rebalance/availability_check
// (503 while the node is evacuated), HiveMQ /api/v1/health/readiness, VerneMQ /health.
import { request } from 'undici';
import type { ProbeResult } from './mqtt-probe.ts';
import { formatHostPort } from '../config/units.ts';

export type HttpProbeOptions = { scheme: 'http' | 'https'; port: number; path: string; timeoutMs: number };

/** Never rejects: a failure is a ProbeResult (http-status: an answer that is not 2xx; http-failed: none). */
export async function probeHttp(host: string, o: HttpProbeOptions): Promise<ProbeResult> {
  const startedMs = performance.now();
  try {
    const res = await request(`${o.scheme}://${formatHostPort(host, o.port)}${o.path}`, {
      method: 'GET', signal: AbortSignal.timeout(o.timeoutMs), headersTimeout: o.timeoutMs, bodyTimeout: o.timeoutMs,
    });
    await res.body.dump();
    const ms = performance.now() - startedMs;
    if (res.statusCode >= 200 && res.statusCode < 300) return { ok: true, ms };
    return { ok: false, reason: 'http-status', detail: `HTTP ${res.statusCode} from ${o.path}`, ms };
  } catch (err) {
    const e = err as Error & { code?: string };
    const detail = e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' ? `no HTTP answer within ${o.timeoutMs}ms` : (e.code ?? e.message);
    return { ok: false, reason: 'http-failed', detail, ms: performance.now() - startedMs };
  }
}
