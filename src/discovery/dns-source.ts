// Discovery from DNS: a name re-resolved every interval. A / AAAA: every address is a broker at `port`.
// SRV: every target of the lowest priority is a broker at its port with its weight (clamped to
// 1..1000), the target's addresses resolved by the same resolver. `resolver` sends the queries to one DNS
// server (host:port) instead of the system's. No such name (NXDOMAIN, no records) is an empty answer, which
// keeps the last set unless allow_empty; any other DNS error is a failure.
import { Resolver } from 'node:dns/promises';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config/resolved.ts';
import type { CounterSink } from '../metrics/counters.ts';
import { PollingSource, type PollResult } from './polling-source.ts';
import { formatHostPort } from '../config/units.ts';

export type DnsSourceOptions = { name: string; record: 'A' | 'AAAA' | 'SRV'; port: number; resolver: string | undefined; intervalMs: number; allowEmpty: boolean };

/** dns error codes that mean "nothing there" rather than "could not ask". */
const kEmpty = new Set(['ENOTFOUND', 'ENODATA']);

export class DnsSource extends PollingSource {
  readonly #o: DnsSourceOptions;
  readonly #resolver: Resolver;

  constructor(o: DnsSourceOptions, onChange: () => void, log: Logger, counters: CounterSink) {
    super(`dns ${o.record} ${o.name}${o.resolver ? ` @${o.resolver}` : ''}`, o.intervalMs, o.allowEmpty, onChange, log, counters);
    this.#o = o;
    // One try per poll and a short timeout: the next poll is the retry.
    this.#resolver = new Resolver({ timeout: Math.min(2000, o.intervalMs), tries: 1 });
    if (o.resolver) this.#resolver.setServers([o.resolver]);
  }

  override async stop(): Promise<void> {
    this.#resolver.cancel();
    await super.stop();
  }

  protected async poll(): Promise<PollResult> {
    try {
      if (this.#o.record !== 'SRV') return { kind: 'set', brokers: (await this.#addresses(this.#o.name, this.#o.record)).map((ip) => broker(formatHostPort(ip, this.#o.port), ip, this.#o.port, 1)) };
      const records = await this.#resolver.resolveSrv(this.#o.name);
      const best = Math.min(...records.map((r) => r.priority));
      const brokers: BrokerConfig[] = [];
      for (const r of records.filter((x) => x.priority === best)) {
        // A target that names no address is skipped; the others still serve.
        const ips = await this.#addresses(r.name, 'A').catch(() => [] as string[]);
        const all = ips.length > 0 ? ips : await this.#addresses(r.name, 'AAAA').catch(() => [] as string[]);
        if (all.length > 0) brokers.push(broker(`${r.name}:${r.port}`, all[0], r.port, Math.min(1000, Math.max(1, r.weight))));
      }
      if (brokers.length === 0 && records.length > 0) return { kind: 'failed', error: `no SRV target of ${this.#o.name} resolves to an address` };
      return { kind: 'set', brokers: brokers.sort((a, b) => a.name.localeCompare(b.name)) };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      return kEmpty.has(code) ? { kind: 'set', brokers: [] } : { kind: 'failed', error: `DNS ${code}` };
    }
  }

  async #addresses(name: string, record: 'A' | 'AAAA'): Promise<string[]> {
    const ips = record === 'A' ? await this.#resolver.resolve4(name) : await this.#resolver.resolve6(name);
    return [...ips].sort();
  }
}

/** A discovered broker: named by its address (A/AAAA) or SRV target and port. */
function broker(name: string, ip: string, port: number, weight: number): BrokerConfig {
  return { name, host: ip, port, address: formatHostPort(ip, port), weight, proxyProtocol: 'none', drain: false };
}
