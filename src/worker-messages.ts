// Messages between the primary and the worker threads (postMessage), the data each worker starts with,
// and the records they exchange. Both sides import this; it lives under src/ because src/ never imports
// from workers/.
import type { BrokerConfig, ResolvedConfig } from './config/resolved.ts';
import type { TlsMaterial } from './tls/material.ts';

/** What the admin endpoint shows about a forwarded client. */
export type ClientRecord = {
  clientId: string;
  username: string | undefined;
  protocolLevel: number;
  broker: string;
  worker: number;
  remote: string;
  sinceMs: number;
};


export type WorkerData = {
  workerId: number;
  config: ResolvedConfig;
  epochMs: number; // the primary's clock origin for shared timestamps
  /** The primary's log format (a worker's own stdout is never a terminal). */
  logFormat: 'json' | 'pretty';
  /** Per listener (same index as config.listeners): where its counts go in shared.connections. */
  listenerSlots: number[];
  /** Per listener (same index as config.listeners): certificates and keys of a TLS listener, else undefined. */
  tls: (TlsMaterial | undefined)[];
  shared: { brokers: SharedArrayBuffer; sticky: SharedArrayBuffer; counters: SharedArrayBuffer; connections: SharedArrayBuffer; admission: SharedArrayBuffer; shares: SharedArrayBuffer; ticketKeys: SharedArrayBuffer };
};

export type ToWorker =
  | { type: 'list-clients'; requestId: number; clientId?: string; limit: number }
  | { type: 'datapath-stats'; requestId: number }
  // Close the listeners; live connections get drainMs to end, then are closed; then the thread ends.
  | { type: 'shutdown'; drainMs: number }
  | { type: 'tls-ticket-keys' } // rotated: every TLS listener takes the keys in shared.ticketKeys
  | { type: 'tls-material'; material: (TlsMaterial | undefined)[] } // reloaded certificates, per listener
  // A reload's listeners, all of them, with each one's TLS material: the worker opens the new ones, then
  // closes the gone ones (all or nothing); it answers listeners-applied.
  | { type: 'listeners'; requestId: number; listeners: ResolvedConfig['listeners']; tls: (TlsMaterial | undefined)[]; slots: number[] }
  // A new broker set (index = broker-table slot, see src/brokers/broker-slots.ts) and balance settings:
  // new placements use them; connections already placed are untouched.
  | { type: 'brokers'; brokers: BrokerConfig[]; balance: ResolvedConfig['balance'] }
  // A reload's log level and idle limit (for connections forwarded from now on).
  | { type: 'runtime'; logLevel: ResolvedConfig['log']['level']; idle: ResolvedConfig['limits']['idle'] }
  // Close up to `count` of this worker's clients on broker slot `broker` (a drain at a bounded rate).
  | { type: 'close-on-broker'; broker: number; count: number }
  // Move up to `count` of this worker's clients homed on broker slot `broker` there (a rebalance).
  | { type: 'move-to-broker'; broker: number; count: number }
  | { type: 'crash' } // tests only (SLUICE_TEST_HOOKS=1): proves a dead worker is replaced
  | { type: 'gc'; requestId: number }; // tests and bench only (SLUICE_TEST_HOOKS=1): full GC, then heap used

export type FromWorker =
  | { type: 'listening'; workerId: number; addresses: string[]; datapath: 'js' | 'splice' }
  | { type: 'listen-failed'; workerId: number; address: string; error: string }
  | { type: 'clients'; requestId: number; clients: ClientRecord[]; total: number }
  | { type: 'datapath-stats'; requestId: number; stats: DatapathStats }
  | { type: 'heap'; requestId: number; usedHeapBytes: number }
  | { type: 'listeners-applied'; requestId: number; failed: { address: string; error: string } | undefined };

/** A worker's splice data path now (zeros on the JS path): pairs, and pipes pooled or holding bytes. */
export type DatapathStats = { pairs: number; pipesPooled: number; pipesInUse: number; holds: number };
