// Chooses the routing key of a client from its CONNECT: the first non-empty source in balance.key.
import type { KeySource } from '../src/config/schema.ts';
import type { ConnectInfo } from '../src/mqtt/connect.ts';

export type RouteKeyText = { text: string; source: KeySource } | undefined;

/**
 * Prefixes keep the sources apart: a client id "10.0.0.1" and a source address 10.0.0.1 are different keys.
 * Returns undefined when every configured source is empty; the client is then placed without a pin.
 * `certCn`: the subject CN of the client's TLS certificate (undefined without one).
 */
export function routeKeyText(sources: readonly KeySource[], connect: ConnectInfo, remoteAddress: string | undefined | (() => string | undefined), certCn?: string): RouteKeyText {
  for (const source of sources) {
    switch (source) {
      case 'cert-cn':
        if (certCn) return { text: `n:${certCn}`, source };
        break;
      case 'client-id':
        if (connect.clientId !== '') return { text: `c:${connect.clientId}`, source };
        break;
      case 'username':
        if (connect.username) return { text: `u:${connect.username}`, source };
        break;
      case 'source-address': {
        // Asked only here: a source may have to look the address up (the native engine: getpeername).
        const address = typeof remoteAddress === 'function' ? remoteAddress() : remoteAddress;
        if (address) return { text: `a:${address}`, source };
        break;
      }
    }
  }
  return undefined;
}
