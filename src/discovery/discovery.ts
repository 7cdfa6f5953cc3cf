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

export class Discovery {
  readonly #sources: PollingSource[];

  constructor(configs: readonly DiscoveryConfig[], onChange: () => void, log: Logger, counters: CounterSink) {
    this.#sources = configs.map((d) => {
      switch (d.type) {
        case 'file': return new FileSource(d.path, d.intervalMs, d.allowEmpty, onChange, log, counters);
        case 'http': return new HttpSource(d, onChange, log, counters);
        case 'dns': return new DnsSource(d, onChange, log, counters);
      }
    });
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
