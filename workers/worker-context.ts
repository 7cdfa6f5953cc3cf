// What every connection of a worker shares: config, shared tables and counters, logs, timers, the data path.
import type { Logger } from 'pino';
import type { RateLimitedLog } from '../src/log.ts';
import type { ResolvedConfig } from '../src/config/resolved.ts';
import type { Counters } from '../src/metrics/counters.ts';
import type { ConnectionStats } from '../src/metrics/connection-stats.ts';
import type { Admission } from '../src/limits/admission.ts';
import type { BrokerTable } from '../src/brokers/broker-table.ts';
import type { Selector } from '../src/balance/strategy.ts';
import type { DeadlineEntry, DeadlineList } from '../src/timers/deadline-list.ts';
import type { ByteMeter, ForwardFn } from './forward.ts';
import type { ClientRecord } from '../src/worker-messages.ts';

export type { ClientRecord } from '../src/worker-messages.ts';

/** A pair forwarding on the JS path, as the worker sees it. */
export type JsPair = {
  readonly record: ClientRecord;
  readonly broker: number;
  /** Its broker drains at a bounded rate: closed now. */
  drain(): void;
  /** A rebalance toward broker `to`: if the client is homed there, its pin moves and it is closed (true). */
  moveTo(to: number): boolean;
  /** Shutdown's drain timed out: closed now. */
  shutdown(): void;
};

export type WorkerContext = {
  workerId: number;
  config: ResolvedConfig;
  brokerTable: BrokerTable;
  selector: Selector;
  /** A TLS client's identity is used (cert-cn key, a PROXY v2 broker): see tls-source.ts identityWantedBy. */
  identityWanted: boolean;
  counters: Counters;
  /** Per-listener counts and the CONNECT-phase histogram (workers/connection-count.ts writes both). */
  stats: ConnectionStats;
  admission: Admission;
  log: Logger;
  faultLog: RateLimitedLog;
  /** Pairs forwarding on the JS path, by connection id: the admin view (record) and a drain at a
   *  bounded rate (close-on-broker). The native engine keeps its own (native-source.ts). */
  jsPairs: Map<number, JsPair>;
  forward: ForwardFn;
  /** Bytes this worker forwarded on the JS path, per broker slot, flushed to the shared counts every
   *  second (the native engine keeps its own). */
  bytesByBroker: ByteMeter[];
  /** Connections in the CONNECT phase, oldest first: the CONNECT timeout, and whom max_pending evicts. */
  pending: DeadlineList<DeadlineEntry & { expire(): void }>;
  /** Refused connections whose CONNACK and FIN are on the way: destroyed when the linger is over. */
  lingering: DeadlineList<DeadlineEntry & { expire(): void }>;
};
