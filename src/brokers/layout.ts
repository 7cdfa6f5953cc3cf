// Shared-memory layout of the broker table: named Int32 word offsets, one cache line per broker.

/** Most brokers one table can hold; a broker's index in BrokerSpec[] is its slot here. */
export const MAX_BROKERS = 256;

/** Int32 words in the header (64 bytes: the header's hot counter gets a cache line to itself). */
export const kHeaderWords = 16;
/** Header: the shared round-robin counter (uint32, wraps). */
export const kRoundRobinField = 0;
/** Header: how many broker slots the table was allocated with. */
export const kMaxBrokersField = 1;
/** Header: format tag, checked when a worker attaches to a buffer. */
export const kMagicField = 2;
/** Header: passive health's bound, failures in a row that mark a broker down (0: off; else CONNACKs are read). */
export const kPassiveFailuresField = 3;
export const kMagic = 0x534c4254; // 'SLBT'

/**
 * Int32 words per broker slot: 16 words = 64 bytes, so each broker's live counter sits on its own
 * cache line and workers counting connections on different brokers do not contend.
 */
export const kBrokerWords = 16;
/** Broker slot: live (forwarded) connections. */
export const kLiveField = 0;
/** Broker slot: flag bits, below. Zero (a fresh table) means healthy and not draining. */
export const kFlagsField = 1;
/** Broker slot: generation (uint32, wraps); bumped when the slot is given to a different broker. */
export const kGenerationField = 2;
/** Broker slot: broker connects that failed in a row, all workers together (passive health); a
 *  successful connect sets it back to 0. */
export const kConnectFailStreakField = 3;
/** Broker slot: when it last came up (sticky-clock seconds, src/sticky/clock.ts), for slow start; 0: at
 *  the start (no ramp). */
export const kUpSinceField = 4;
/** Broker slot: broker connects that failed, all workers together, since the slot was given to this
 *  broker (uint32, wraps): the metrics' per-broker total. */
export const kConnectFailuresField = 5;
/** Broker slot: CONNACKs that refused a client for the broker's own state (passive health), as above. */
export const kConnackRefusalsField = 6;

/** Flag bit: health checks say the broker is down. */
export const kFlagDown = 1;
/** Flag bit: the broker is draining (no new connections). */
export const kFlagDraining = 2;

/** Bytes of the Int32 part (header and broker slots); a multiple of 8, where the byte counts start. */
export function brokerWordBytes(maxBrokers: number): number {
  return (kHeaderWords + maxBrokers * kBrokerWords) * Int32Array.BYTES_PER_ELEMENT;
}

/**
 * After the Int32 words: per broker, two BigInt64 byte counts (client->broker, broker->client) since the
 * slot was given to it. Workers add their share once a second (Atomics.add on BigInt64Array).
 */
export const kBytesPerBroker = 2;

export function brokerTableBytes(maxBrokers: number): number {
  return brokerWordBytes(maxBrokers) + maxBrokers * kBytesPerBroker * BigInt64Array.BYTES_PER_ELEMENT;
}
