// Process-wide event counters in a SharedArrayBuffer: every worker adds, the admin endpoint reads.

// Named slots (piscina style): the index of each counter in the shared array.
export const counterNames = [
  'connections_accepted',
  'connections_forwarded',
  'connections_closed',
  'refused_not_connect',
  'refused_malformed',
  'refused_unsupported_protocol',
  'refused_too_large',
  'refused_connect_timeout',
  'refused_no_broker',
  'refused_max_connections',
  'refused_connect_rate',
  'client_closed_before_connect',
  'client_ended_before_connect',
  'client_closed_while_placing',
  'pending_evicted',
  'refused_internal_error',
  'connections_dropped_worker_exit',
  'broker_connect_failures',
  'sticky_hits',
  'sticky_misses',
  'sticky_stale',
  'sticky_unrecorded',
  'bytes_client_to_broker',
  'bytes_broker_to_client',
  // Admin HTTP endpoint (primary thread); see README "Admin endpoint".
  'admin_requests',
  'admin_bad_requests',
  'admin_errors',
  'admin_client_errors',
  'admin_timeouts',
  'admin_connections_refused',
] as const;
export type CounterName = (typeof counterNames)[number];
const counterIndex = Object.fromEntries(counterNames.map((n, i) => [n, i])) as Record<CounterName, number>;

export class Counters {
  readonly #cells: BigInt64Array;

  static allocate(): SharedArrayBuffer {
    return new SharedArrayBuffer(counterNames.length * BigInt64Array.BYTES_PER_ELEMENT);
  }

  constructor(sab: SharedArrayBuffer) {
    this.#cells = new BigInt64Array(sab);
  }

  add(name: CounterName, n = 1): void {
    // Atomics.add: several workers bump the same counter; no ordering with other memory is needed.
    Atomics.add(this.#cells, counterIndex[name], BigInt(n));
  }

  get(name: CounterName): number {
    return Number(Atomics.load(this.#cells, counterIndex[name]));
  }

  snapshot(): Record<CounterName, number> {
    return Object.fromEntries(counterNames.map((n) => [n, this.get(n)])) as Record<CounterName, number>;
  }
}
