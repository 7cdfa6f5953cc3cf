// Chooses a worker's data path once, at start: the native engine where it can run (Linux, addon built),
// which owns plain-TCP sockets from accept to close; else Node sockets and the JS pipe. SLUICE_DATAPATH
// overrides the config, for side-by-side comparison. Sources that keep Node sockets (TLS and WebSocket
// listeners, a later stage) forward with the JS pipe on either.
import type { ForwardFn } from './forward.ts';
import { forwardJs } from './forward-js.ts';
import { spliceAvailable, spliceUnavailableReason } from './splice-addon.ts';

export type DatapathName = 'js' | 'splice';
export type DatapathChoice = { name: DatapathName; forward: ForwardFn; note?: string };

export function chooseDatapath(configured: 'auto' | DatapathName, env = process.env.SLUICE_DATAPATH): DatapathChoice {
  const requested = env === 'js' || env === 'splice' || env === 'auto' ? env : configured;
  if (requested === 'js') return { name: 'js', forward: forwardJs };
  if (spliceAvailable) return { name: 'splice', forward: forwardJs };
  // Asked for splice but it cannot run here: serve on the JS path and say why, rather than refuse to start.
  return {
    name: 'js',
    forward: forwardJs,
    note: requested === 'splice' ? `native data path unavailable (${spliceUnavailableReason}); using the JS path` : undefined,
  };
}
