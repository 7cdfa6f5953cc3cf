// Messages between the primary and the worker threads (postMessage), and the data each worker starts with.
import type { ResolvedConfig } from '../src/config/resolved.ts';
import type { ClientRecord } from './worker-context.ts';

export type WorkerData = {
  workerId: number;
  config: ResolvedConfig;
  epochMs: number; // the primary's clock origin for shared timestamps
  shared: { brokers: SharedArrayBuffer; sticky: SharedArrayBuffer; counters: SharedArrayBuffer; admission: SharedArrayBuffer; shares: SharedArrayBuffer };
};

export type ToWorker =
  | { type: 'list-clients'; requestId: number; clientId?: string; limit: number }
  | { type: 'datapath-stats'; requestId: number }
  | { type: 'shutdown' }
  | { type: 'crash' } // tests only (SLUICE_TEST_HOOKS=1): proves a dead worker is replaced
  | { type: 'gc'; requestId: number }; // tests and bench only (SLUICE_TEST_HOOKS=1): full GC, then heap used

export type FromWorker =
  | { type: 'listening'; workerId: number; addresses: string[]; datapath: 'js' | 'splice' }
  | { type: 'listen-failed'; workerId: number; address: string; error: string }
  | { type: 'clients'; requestId: number; clients: ClientRecord[]; total: number }
  | { type: 'datapath-stats'; requestId: number; stats: DatapathStats }
  | { type: 'heap'; requestId: number; usedHeapBytes: number };

/** A worker's splice data path now (zeros on the JS path): pairs, and pipes pooled or holding bytes. */
export type DatapathStats = { pairs: number; pipesPooled: number; pipesInUse: number };
