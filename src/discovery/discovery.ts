// Broker discovery in the primary: the configured sources (file, http, dns) each keep their last good
// set; the broker set is the static brokers followed by every source's set, a name or an address taken
// by an earlier entry skipped (each skip logged once per change). The primary applies it to the broker
// table and the workers (src/primary/run.ts); a broker that disappears is removed there and drains.
import type { Logger } from 'pino';
import type { BrokerConfig, DiscoveryConfig } from '../config/resolved.ts';
import type { CounterSink } from '../metrics/counters.ts';
import { DnsSource } from './dns-source.ts';
import { FileSource } from './file-source.ts';
import { HttpSource } from './http-source.ts';
import type { PollingSource, SourceStatus } from './polling-source.ts';

type Entry = { key: string; source: PollingSource };

export class Discovery {
  #entries: Entry[];
  readonly #make: (d: DiscoveryConfig) => PollingSource;

  constructor(configs: readonly DiscoveryConfig[], onChange: () => void, log: Logger, counters: CounterSink) {
    this.#make = (d) => {
      switch (d.type) {
        case 'file': return new FileSource(d.path, d.intervalMs, d.allowEmpty, onChange, log, counters);
        case 'http': return new HttpSource(d, onChange, log, counters);
        case 'dns': return new DnsSource(d, onChange, log, counters);
      }
    };
    this.#entries = configs.map((d) => ({ key: JSON.stringify(d), source: this.#make(d) }));
  }

  get #sources(): PollingSource[] {
    return this.#entries.map((e) => e.source);
  }

  /**
   * A reload's sources, in their new order: a source whose settings stay keeps running with its last good
   * set (a source that is down at the reload does not empty it); a new one starts, and this resolves once
   * it has polled (bounded by its timeout); one no longer configured stops.
   */
  async update(configs: readonly DiscoveryConfig[]): Promise<void> {
    const running = new Map(this.#entries.map((e) => [e.key, e.source]));
    const next: Entry[] = configs.map((d) => {
      const key = JSON.stringify(d);
      const kept = running.get(key);
      running.delete(key);
      return { key, source: kept ?? this.#make(d) };
    });
    const kept = new Set(this.#entries.map((e) => e.source));
    await Promise.all(next.filter((e) => !kept.has(e.source)).map((e) => e.source.start()));
    this.#entries = next;
    await Promise.all([...running.values()].map((s) => s.stop()));
  }

  /** Starts every source; resolves when each has polled once (each poll is bounded by its timeout). */
  async start(): Promise<void> {
    await Promise.all(this.#sources.map((s) => s.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.#sources.map((s) => s.stop()));
  }

  /** Each source's last good set, in config order (undefined: none yet). */
  get sets(): (BrokerConfig[] | undefined)[] {
    return this.#sources.map((s) => s.brokers);
  }

  status(): SourceStatus[] {
    return this.#sources.map((s) => s.status());
  }
}

/**
 * The broker set: `staticBrokers`, then each discovered set in order; an entry whose name or address an
 * earlier one has is skipped and reported in `skipped`.
 */
export function combineBrokers(staticBrokers: readonly BrokerConfig[], discovered: readonly (readonly BrokerConfig[] | undefined)[]): { brokers: BrokerConfig[]; skipped: string[] } {
  const names = new Set<string>();
  const addresses = new Set<string>();
  const brokers: BrokerConfig[] = [];
  const skipped: string[] = [];
  for (const b of [...staticBrokers, ...discovered.flatMap((d) => d ?? [])]) {
    if (names.has(b.name) || addresses.has(b.address)) {
      skipped.push(`${b.name}=${b.address}`);
      continue;
    }
    names.add(b.name);
    addresses.add(b.address);
    brokers.push(b);
  }
  return { brokers, skipped };
}
