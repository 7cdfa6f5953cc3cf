// Loads the native splice addon (native/splice.c, via node-gyp-build); when it is missing, not built or
// turned off, `spliceAvailable` is false, `spliceUnavailableReason` says why, and the JS path is used.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Called once per pair; `reasonCode` indexes `spliceEndReasons`, `errno` is a name like 'ECONNRESET'. */
export type SpliceEndFn = (bytesClientToBroker: number, bytesBrokerToClient: number, reasonCode: number, errno: string | undefined) => void;

export type SpliceStats = {
  pairs: number; // pairs forwarding now on this thread
  pipesPooled: number; // idle pipes kept for reuse (2 fds each)
  pipesInUse: number; // pipes held by directions with bytes in flight
  pipeBytes: number; // size asked of F_SETPIPE_SZ for new pipes
  poolMax: number;
};

export type SpliceBinding = {
  /** dup()s both fds and forwards between the dups on this thread's loop. Bad arguments throw;
   *  a system failure (EMFILE...) returns its errno name and leaves nothing behind. */
  start(clientFd: number, brokerFd: number, onEnd: SpliceEndFn): string | undefined;
  /** Ends every pair of this thread with reason 'shutdown' (each onEnd runs); returns how many. */
  stopAll(): number;
  /** Pipe size for new pipes (the kernel may grant less) and how many idle pipes to keep; empties the pool. */
  configure(pipeBytes: number, poolMax: number): void;
  /** Closes the idle pooled pipes; returns how many. */
  drainPool(): number;
  stats(): SpliceStats;
  /** Bytes moved by every pair of this thread since the last call (or start): [client->broker, broker->client]. */
  takeMoved(): [number, number];
};

/** Native reason codes, by index. */
export const spliceEndReasons = ['client-closed', 'broker-closed', 'client-error', 'broker-error', 'shutdown'] as const;

const projectRoot = fileURLToPath(new URL('..', import.meta.url));

function load(): { binding?: SpliceBinding; reason?: string } {
  if (process.platform !== 'linux') return { reason: `splice(2) is Linux-only (platform ${process.platform})` };
  // The switch for side-by-side comparison with the JS path.
  if (process.env.SLUICE_SPLICE === 'off') return { reason: 'turned off by SLUICE_SPLICE=off' };
  try {
    const require = createRequire(import.meta.url);
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    return { binding: nodeGypBuild(projectRoot) as SpliceBinding };
  } catch (err) {
    return { reason: `native addon not loaded: ${(err as Error).message}` };
  }
}

const loaded = load();

export const splice: SpliceBinding | undefined = loaded.binding;
export const spliceAvailable: boolean = loaded.binding !== undefined;
export const spliceUnavailableReason: string | undefined = loaded.reason;
