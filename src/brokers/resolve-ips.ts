// Broker host names become IP addresses in the primary, once per broker-set change: workers dial the IP
// and never resolve a name, at start or per connection (a slow or failing resolver never stalls a
// placement). A name that does not resolve leaves the broker undialable (placement skips it, counted as a
// connect failure) and is logged.
import { isIP } from 'node:net';
import { lookup as dnsLookup } from 'node:dns/promises';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config/resolved.ts';

export type LookupFn = (host: string) => Promise<{ address: string }>;

/** The same brokers with `ip` set (undefined: the name did not resolve). Free slots are left as they are. */
export async function resolveBrokerIps(brokers: readonly BrokerConfig[], log: Logger, lookup: LookupFn = dnsLookup): Promise<BrokerConfig[]> {
  return Promise.all(brokers.map(async (b) => {
    if (b.name === '') return b;
    if (isIP(b.host) !== 0) return { ...b, ip: b.host };
    try {
      return { ...b, ip: (await lookup(b.host)).address };
    } catch (err) {
      log.warn({ broker: b.name, host: b.host, err: (err as NodeJS.ErrnoException).code ?? (err as Error).message }, 'broker name does not resolve; it is not dialed');
      return { ...b, ip: undefined };
    }
  }));
}
