// Broker table: per-broker health, draining, generation and live-connection counts in a SharedArrayBuffer.
//
// The primary allocates it and every worker attaches to the same buffer. All access is via Atomics
// on an Int32Array; every Atomics op in JS is sequentially consistent, so the "ordering choice" below
// is which words need an atomic read-modify-write and which a plain atomic load/store suffices for.
import {
  MAX_BROKERS,
  brokerTableBytes,
  brokerWordBytes,
  kBytesPerBroker,
  kBrokerWords,
  kFlagDown,
  kFlagDraining,
  kFlagsField,
  kGenerationField,
  kConnectFailStreakField,
  kConnectFailuresField,
  kConnackRefusalsField,
  kPassiveFailuresField,
  kUpSinceField,
  kHeaderWords,
  kLiveField,
  kMagic,
  kMagicField,
  kMaxBrokersField,
  kRoundRobinField,
} from './layout.ts';
import type { WorkerShare } from '../limits/worker-shares.ts';

export class BrokerTable {
  readonly maxBrokers: number;
  readonly #words: Int32Array;
  readonly #bytes: BigInt64Array;
  readonly #share: WorkerShare | undefined;

  /** A zeroed table for `maxBrokers` brokers: all healthy, none draining, no connections, generation 0. */
  static allocate(maxBrokers: number = MAX_BROKERS): SharedArrayBuffer {
    if (!Number.isInteger(maxBrokers) || maxBrokers < 1 || maxBrokers > MAX_BROKERS) {
      throw new RangeError(`maxBrokers must be an integer in 1..${MAX_BROKERS}, got ${maxBrokers}`);
    }
    const sab = new SharedArrayBuffer(brokerTableBytes(maxBrokers));
    const words = new Int32Array(sab);
    words[kMaxBrokersField] = maxBrokers; // plain stores: the buffer is not shared with anyone yet
    words[kMagicField] = kMagic;
    return sab;
  }

  /** `share`: the calling worker's slot, where it also counts its live connections (workers only). */
  constructor(sab: SharedArrayBuffer, share?: WorkerShare) {
    const words = new Int32Array(sab);
    // Atomics.load: the buffer may have come from another thread; read its header as published.
    const maxBrokers = Atomics.load(words, kMaxBrokersField);
    if (Atomics.load(words, kMagicField) !== kMagic || sab.byteLength !== brokerTableBytes(maxBrokers)) {
      throw new TypeError('not a broker table SharedArrayBuffer (use BrokerTable.allocate)');
    }
    this.#words = words;
    this.#bytes = new BigInt64Array(sab, brokerWordBytes(maxBrokers), maxBrokers * kBytesPerBroker);
    this.maxBrokers = maxBrokers;
    this.#share = share;
  }

  #at(i: number, field: number): number {
    if (!(i >= 0 && i < this.maxBrokers)) throw new RangeError(`broker index ${i} out of range 0..${this.maxBrokers - 1}`);
    return kHeaderWords + i * kBrokerWords + field;
  }

  liveConnections(i: number): number {
    // Atomics.load: a racing add/sub from another worker must never be seen torn.
    return Atomics.load(this.#words, this.#at(i, kLiveField));
  }

  connectionOpened(i: number): void {
    // Atomics.add: several workers count on the same broker at once; a read-modify-write loses none.
    Atomics.add(this.#words, this.#at(i, kLiveField), 1);
    this.#share?.brokerOpened(i);
  }

  connectionClosed(i: number): void {
    // Atomics.sub: same reason as connectionOpened.
    Atomics.sub(this.#words, this.#at(i, kLiveField), 1);
    this.#share?.brokerClosed(i);
  }

  /** Primary: a dead worker's connections are gone; `live[i]` of them were on broker i. */
  releaseShare(live: readonly number[]): void {
    const n = Math.min(live.length, this.maxBrokers);
    // Atomics.sub: live workers keep counting on the same brokers meanwhile.
    for (let i = 0; i < n; i++) if (live[i] !== 0) Atomics.sub(this.#words, this.#at(i, kLiveField), live[i]);
  }

  /** Sum of live connections over every slot (metrics; strategies sum their own brokers). */
  totalLive(): number {
    let total = 0;
    for (let i = 0; i < this.maxBrokers; i++) {
      // Atomics.load per slot: each count is exact at its read; the sum is a snapshot, not a transaction.
      total += Atomics.load(this.#words, kHeaderWords + i * kBrokerWords + kLiveField);
    }
    return total;
  }

  isHealthy(i: number): boolean {
    // Atomics.load: flags are flipped by the primary while workers read them.
    return (Atomics.load(this.#words, this.#at(i, kFlagsField)) & kFlagDown) === 0;
  }

  setHealthy(i: number, healthy: boolean): void {
    // Atomics.and/or: flip one bit without losing a concurrent change to the other (draining) bit.
    if (healthy) Atomics.and(this.#words, this.#at(i, kFlagsField), ~kFlagDown);
    else Atomics.or(this.#words, this.#at(i, kFlagsField), kFlagDown);
  }

  isDraining(i: number): boolean {
    // Atomics.load: as isHealthy.
    return (Atomics.load(this.#words, this.#at(i, kFlagsField)) & kFlagDraining) !== 0;
  }

  setDraining(i: number, draining: boolean): void {
    // Atomics.and/or: as setHealthy.
    if (draining) Atomics.or(this.#words, this.#at(i, kFlagsField), kFlagDraining);
    else Atomics.and(this.#words, this.#at(i, kFlagsField), ~kFlagDraining);
  }

  /**
   * A connect to broker i failed (or its CONNACK refused a client for its own state). Passive health
   * (setPassiveFailures): the failure that makes the run reach the bound marks the broker down at once,
   * so the very next placement skips it; the primary then logs it and decides when it comes back.
   */
  connectFailed(i: number, refusal = false): void {
    // Atomics.add: the totals of every worker (the metrics read them).
    Atomics.add(this.#words, this.#at(i, refusal ? kConnackRefusalsField : kConnectFailuresField), 1);
    // Atomics.add: several workers fail on the same broker at once; none is lost, and exactly one of
    // them sees the run reach the bound.
    const streak = Atomics.add(this.#words, this.#at(i, kConnectFailStreakField), 1) + 1;
    // Atomics.load: the primary sets the bound at start and on reload.
    const bound = Atomics.load(this.#words, kPassiveFailuresField);
    if (bound > 0 && streak === bound) this.setHealthy(i, false);
  }

  /** Primary: failures in a row (connects, refusing CONNACKs) that mark a broker down (0: passive health off). */
  setPassiveFailures(n: number): void {
    // Atomics.store: read by every worker on its next failure and next placement.
    Atomics.store(this.#words, kPassiveFailuresField, n);
  }

  /** Failures in a row that mark a broker down (0: passive health off). */
  passiveFailures(): number {
    // Atomics.load: as connectFailed.
    return Atomics.load(this.#words, kPassiveFailuresField);
  }

  /** A connect to broker i succeeded (with passive health: its CONNACK accepted): the run of failures is over. */
  connectSucceeded(i: number): void {
    const at = this.#at(i, kConnectFailStreakField);
    // Atomics.load first: the common case (no failures) writes nothing to the shared line.
    if (Atomics.load(this.#words, at) !== 0) Atomics.store(this.#words, at, 0);
  }

  /** Primary: failed connects to broker i in a row (any worker). */
  connectFailStreak(i: number): number {
    // Atomics.load: workers add to it concurrently.
    return Atomics.load(this.#words, this.#at(i, kConnectFailStreakField));
  }

  /** Primary: starts the count again (the broker was just marked down, or given to another broker). */
  resetConnectFailStreak(i: number): void {
    // Atomics.store: a failure a worker adds at the same moment may be lost, which only delays a mark.
    Atomics.store(this.#words, this.#at(i, kConnectFailStreakField), 0);
  }

  /** Primary: broker i came up (back from down, or added while running) at `nowSec`: healthy, and its
   *  slow start (if it has one) counts from now. */
  markUp(i: number, nowSec: number): void {
    // Atomics.store before the flag: a worker that sees it healthy sees when it came up.
    Atomics.store(this.#words, this.#at(i, kUpSinceField), nowSec);
    this.setHealthy(i, true);
  }

  /** When broker i last came up (sticky-clock seconds), or 0: up since the start. */
  upSince(i: number): number {
    // Atomics.load: the primary writes it.
    return Atomics.load(this.#words, this.#at(i, kUpSinceField));
  }

  /** Current generation of slot i (uint32). Sticky pins recorded under another generation are void. */
  generation(i: number): number {
    // Atomics.load: must observe a bump made by the primary before the worker got the new broker set.
    return Atomics.load(this.#words, this.#at(i, kGenerationField)) >>> 0;
  }

  /** Call when slot i is given to a different broker: every sticky pin to i becomes invalid at once,
   *  and its failure totals start from zero. */
  bumpGeneration(i: number): void {
    // Atomics.add: a read-modify-write, so two bumps never collapse into one.
    Atomics.add(this.#words, this.#at(i, kGenerationField), 1);
    // Atomics.store: a failure of the old broker counted at this moment may be lost; it was the old one's.
    Atomics.store(this.#words, this.#at(i, kConnectFailuresField), 0);
    Atomics.store(this.#words, this.#at(i, kConnackRefusalsField), 0);
    Atomics.store(this.#bytes, i * kBytesPerBroker, 0n);
    Atomics.store(this.#bytes, i * kBytesPerBroker + 1, 0n);
  }

  /** A worker's bytes forwarded to and from broker i since its last report (once a second). */
  addBytes(i: number, clientToBroker: number, brokerToClient: number): void {
    this.#at(i, 0); // range check
    // Atomics.add: every worker adds to the same two counts.
    if (clientToBroker > 0) Atomics.add(this.#bytes, i * kBytesPerBroker, BigInt(clientToBroker));
    if (brokerToClient > 0) Atomics.add(this.#bytes, i * kBytesPerBroker + 1, BigInt(brokerToClient));
  }

  /** Bytes forwarded to and from broker i since the slot was given to it: [client->broker, broker->client]. */
  bytes(i: number): [number, number] {
    this.#at(i, 0); // range check
    // Atomics.load: workers add to them.
    return [Number(Atomics.load(this.#bytes, i * kBytesPerBroker)), Number(Atomics.load(this.#bytes, i * kBytesPerBroker + 1))];
  }

  /** Failed connects to broker i, and CONNACKs it refused clients with for its own state (uint32 totals). */
  failureTotals(i: number): { connects: number; connackRefusals: number } {
    // Atomics.load: workers add to them.
    return { connects: Atomics.load(this.#words, this.#at(i, kConnectFailuresField)) >>> 0, connackRefusals: Atomics.load(this.#words, this.#at(i, kConnackRefusalsField)) >>> 0 };
  }

  /** Next value of the table-wide round-robin counter (uint32, wraps): global across workers. */
  nextRoundRobin(): number {
    // Atomics.add: each caller in every worker gets a distinct ticket.
    return Atomics.add(this.#words, kRoundRobinField, 1) >>> 0;
  }
}
