// Loads the native engine addon (native/*.c, via node-gyp-build); when it is missing, not built or
// turned off, `spliceAvailable` is false, `spliceUnavailableReason` says why, and the JS path is used.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Called once per pair; `reasonCode` indexes `spliceEndReasons`, `errno` is a name like 'ECONNRESET'. */
export type SpliceEndFn = (bytesClientToBroker: number, bytesBrokerToClient: number, reasonCode: number, errno: string | undefined) => void;

export type SpliceStats = {
  pairs: number; // pairs forwarding now on this thread
  connections: number; // connections of the engine in any phase (CONNECT phase, connecting, lingering...)
  listeners: number;
  pipesPooled: number; // idle pipes kept for reuse (2 fds each)
  pipesInUse: number; // pipes held by directions with bytes in flight
  pipeBytes: number; // size asked of F_SETPIPE_SZ for new pipes
  poolMax: number;
  holds: number; // sources held to coalesce their small writes, since the start (native/pump.c)
  bytesHeld: number; // read and not yet written on: in pipes or in memory (a walk over the pairs)
};

/**
 * What the engine tells JS, batched: `onEvents(count)` is called once per loop wake-up with `count`
 * events in the events array, kEventFields numbers each: kind, slot, a, b, c, d (see native/sluice.h).
 */
export const EngineEvent = {
  accepted: 1, // slot
  data: 2, // slot, a = bytes read so far, b = their offset in the data array (-1: fetch with bytesOf)
  endedEarly: 3, // slot, a = bytes read: FIN before the CONNECT was judged whole
  resetEarly: 4, // slot, a = errno
  timedOut: 5, // slot, a = bytes read, b/c = offset/length of the client's "ip:port" in the data array (-1/0: none): connect_timeout, the engine closed it
  brokerFailed: 6, // slot, a = errno (ETIMEDOUT for the broker connect timeout)
  connected: 7, // slot
  ended: 8, // slot, a = bytes client->broker, b = bytes broker->client, c = reason (spliceEndReasons), d = errno
  clientGone: 9, // slot, a = errno: the client reset while its broker was being connected
  acceptFailed: 10, // a = errno: the listener pauses 100 ms
  brokerFirst: 11, // slot, a = bytes, b = their offset in the data array: a tapped broker's first read
} as const;

/** tapBroker flags (native/sluice.h kTap*): what the broker's first read (its CONNACK) goes to JS for. */
export const TapFlags = {
  copy: 1, // always (an MQTT 5 empty client id: the assigned id is pinned)
  judge: 2, // passive health: unless it is a CONNACK accepting the client (healthy traffic costs no event)
  reportAccept: 4, // passive health, the broker has failures in a row: an accepting CONNACK too
} as const;

export const kEventFields = 6;

export type SpliceBinding = {
  /** The batch: onEvents(count) reads `count` events from `events` and CONNECT bytes from `data`. */
  init(onEvents: (count: number) => void, events: Float64Array, data: Uint8Array): void;
  configureEngine(connectTimeoutMs: number, brokerConnectTimeoutMs: number, lingerMs: number, maxConnectBytes: number, coalesceUs: number): void;
  /** Numeric IPs and ports, by broker index. */
  setBrokers(ips: string[], ports: number[]): void;
  /** SO_REUSEPORT listener on a numeric IP (null: every address, dual stack); an errno name on failure. */
  /** The listener's index (its accepted events name it; a closed one's index is given out again), or an errno name. */
  listen(host: string | null, port: number, backlog: number): number | string;
  /** Closes one listener; the connections it accepted go on. */
  closeListener(index: number): void;
  closeListeners(): void;
  /** Tell JS again once `bytes` are in (CONNECT phase). */
  want(slot: number, bytes: number): string | undefined;
  /** CONNACK (or none), FIN, a linger that drops what the client sends, then close. */
  refuse(slot: number, connack?: Buffer): string | undefined;
  /** Starts a broker connect (an event follows), or returns the errno name of a failure at once.
   *  `prefix` (a PROXY header) goes to this broker before the client's bytes. */
  connect(slot: number, broker: number, prefix?: Buffer): string | undefined;
  /** Closes the client waiting longest in the CONNECT phase: its slot (-1: none) and "ip:port" ('' unknown). */
  evictOldest(): [number, string];
  remoteAddress(slot: number): [string, number] | undefined;
  /** The pair ends (reason idle) once the client has sent nothing for ms (0: never), counted from now. */
  setIdle(slot: number, ms: number): string | undefined;
  /** Ends every pair whose client is idle past its limit; returns how many (their ended events follow). */
  sweepIdle(): number;
  /** The broker's first read (its CONNACK) comes as a brokerFirst event as TapFlags say (they replace
   *  the slot's earlier ones); forwarding is unchanged. EALREADY: that read has been made. */
  tapBroker(slot: number, flags: number): string | undefined;
  /** Ends a forwarding pair now (reason drained); its ended event follows. An errno name if it is not one. */
  endPair(slot: number): string | undefined;
  /** The first n bytes the client sent (a PROXY header) are not forwarded. */
  skipIn(slot: number, bytes: number): string | undefined;
  /** The address the client connected to (getsockname). */
  localAddress(slot: number): [string, number] | undefined;
  bytesOf(slot: number): Buffer | undefined;
  /** (Sockets Node accepted.) dup()s both fds and forwards between the dups on this thread's loop. Bad
   *  arguments throw; a system failure (EMFILE...) returns its errno name and leaves nothing behind. */
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
  /** The same per broker index into out (out[2i], out[2i+1]); how many rows it wrote. */
  takeMovedByBroker(out: Float64Array): number;
};

/** Native reason codes, by index. */
export const spliceEndReasons = ['client-closed', 'broker-closed', 'client-error', 'broker-error', 'shutdown', 'idle', 'drained'] as const;

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
