// Discovery from an HTTP(S) endpoint, polled with undici: a plain list ({ brokers: [...] }, format sluice)
// or EMQX's node list (GET /api/v5/nodes, format emqx: every running node at mqtt_port). Each poll has a
// timeout; an ETag is sent back as If-None-Match, so an unchanged list costs a 304; a bearer token is read
// from its file at every poll (rotated tokens work) and never logged.
import { readFile } from 'node:fs/promises';
import { request } from 'undici';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config/resolved.ts';
import type { CounterSink } from '../metrics/counters.ts';
import { parseBrokerList } from './broker-list.ts';
import { PollingSource, type PollResult } from './polling-source.ts';
import { formatHostPort } from '../config/units.ts';

/** Largest answer read; a larger one is refused (a list of 256 brokers is far smaller). */
const kMaxBodyBytes = 1024 * 1024;

export type HttpSourceOptions = {
  url: string;
  intervalMs: number;
  timeoutMs: number;
  format: 'sluice' | 'emqx';
  mqttPort: number;
  tokenFile: string | undefined;
  allowEmpty: boolean;
};

export class HttpSource extends PollingSource {
  readonly #o: HttpSourceOptions;
  #etag: string | undefined;

  constructor(o: HttpSourceOptions, onChange: () => void, log: Logger, counters: CounterSink) {
    // The URL as written, less any user:password part.
    const shown = new URL(o.url);
    shown.username = '';
    shown.password = '';
    super(`http ${shown.href}`, o.intervalMs, o.allowEmpty, onChange, log, counters);
    this.#o = o;
  }

  protected async poll(): Promise<PollResult> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#etag) headers['if-none-match'] = this.#etag;
    if (this.#o.tokenFile) {
      try {
        headers.authorization = `Bearer ${(await readFile(this.#o.tokenFile, 'utf8')).trim()}`;
      } catch (err) {
        return { kind: 'failed', error: `cannot read token_file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
      }
    }
    let body: string;
    try {
      const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.#o.timeoutMs)]);
      const res = await request(this.#o.url, { method: 'GET', headers, signal, headersTimeout: this.#o.timeoutMs, bodyTimeout: this.#o.timeoutMs });
      if (res.statusCode === 304) {
        await res.body.dump();
        return { kind: 'unchanged' };
      }
      if (res.statusCode !== 200) {
        await res.body.dump();
        return { kind: 'failed', error: `HTTP ${res.statusCode}` };
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > kMaxBodyBytes) {
          res.body.destroy();
          return { kind: 'failed', error: `the answer is over ${kMaxBodyBytes} bytes` };
        }
        chunks.push(chunk as Buffer);
      }
      body = Buffer.concat(chunks).toString('utf8');
      const etag = res.headers.etag;
      this.#etag = typeof etag === 'string' ? etag : undefined;
    } catch (err) {
      const e = err as Error & { code?: string };
      const why = e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT' ? `no answer within ${this.#o.timeoutMs}ms` : (e.code ?? e.message);
      return { kind: 'failed', error: why };
    }
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch {
      this.#etag = undefined; // never 304 on an answer that was refused
      return { kind: 'failed', error: 'the answer is not JSON' };
    }
    const result = this.#o.format === 'emqx' ? emqxNodes(value, this.#o.mqttPort) : parseBrokerList(value);
    if (!result.ok) this.#etag = undefined;
    return result.ok ? { kind: 'set', brokers: result.brokers } : { kind: 'failed', error: result.error };
  }
}

/**
 * EMQX's GET /api/v5/nodes: an array of nodes, `node` as "emqx@host" and `node_status` "running" or
 * "stopped". Every running node is a broker named after its node, at host:mqttPort.
 */
export function emqxNodes(value: unknown, mqttPort: number): { ok: true; brokers: BrokerConfig[] } | { ok: false; error: string } {
  const nodes = Array.isArray(value) ? value : (value as { data?: unknown })?.data;
  if (!Array.isArray(nodes)) return { ok: false, error: 'not an EMQX node list (an array of { node, node_status })' };
  const brokers: BrokerConfig[] = [];
  for (const n of nodes as { node?: unknown; node_status?: unknown }[]) {
    if (typeof n?.node !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(n.node)) return { ok: false, error: `a node without a "name@host" node field: ${JSON.stringify(n).slice(0, 80)}` };
    if (n.node_status !== 'running') continue;
    const host = n.node.slice(n.node.indexOf('@') + 1);
    brokers.push({ name: n.node, host, port: mqttPort, address: formatHostPort(host, mqttPort), weight: 1, proxyProtocol: 'none', drain: false });
  }
  return { ok: true, brokers };
}
