// A forwarded client's idle limit (limits.idle). MQTT says a client sends something at least every
// keep-alive seconds (a PINGREQ when it has nothing else), and a server may drop it after 1.5x that with
// nothing heard [MQTT-3.1.2-24]: a device gone without a FIN (power cut, lost radio) is then known to be
// gone. Keep-alive 0 means the client never promised anything: no limit. Only bytes from the client count:
// a broker publishing to a dead device must not keep its connection alive.
import type { ResolvedConfig } from '../config/resolved.ts';

/** Largest limit the native engine takes (uint32 ms, about 49 days); MQTT's largest is 1.5 x 65535 s. */
const kMaxIdleMs = 2 ** 32 - 1;

/** The limit in ms for a client with this CONNECT keep-alive (0: none). */
export function idleLimitMs(idle: ResolvedConfig['limits']['idle'], keepaliveSec: number): number {
  if (idle === 'off') return 0;
  if (idle === 'keepalive') return keepaliveSec === 0 ? 0 : Math.min(kMaxIdleMs, keepaliveSec * 1500);
  return Math.min(kMaxIdleMs, idle);
}
