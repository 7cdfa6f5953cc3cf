// Chooses a worker's data path once, at start: the native splice path where it can run (Linux, addon
// built, plain TCP), else the JS pipe. SLUICE_DATAPATH overrides the config, for side-by-side comparison.
import type { ForwardFn } from './forward.ts';
import { forwardJs } from './forward-js.ts';
import { forwardSplice } from './forward-splice.ts';
import { spliceAvailable, spliceUnavailableReason } from './splice-addon.ts';

export type DatapathName = 'js' | 'splice';
export type DatapathChoice = { name: DatapathName; forward: ForwardFn; note?: string };

export function chooseDatapath(configured: 'auto' | DatapathName, env = process.env.SLUICE_DATAPATH): DatapathChoice {
  const requested = env === 'js' || env === 'splice' || env === 'auto' ? env : configured;
  if (requested === 'js') return { name: 'js', forward: forwardJs };
  if (spliceAvailable) return { name: 'splice', forward: forwardSplice };
  // Asked for splice but it cannot run here: serve on the JS path and say why, rather than refuse to start.
  return {
    name: 'js',
    forward: forwardJs,
    note: requested === 'splice' ? `splice data path unavailable (${spliceUnavailableReason}); using the JS path` : undefined,
  };
}
