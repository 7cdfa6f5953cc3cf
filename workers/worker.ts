// Worker thread entry: listens with reusePort on every configured address and serves client connections:
// plain TCP with the native engine (Linux) or Node sockets (the JS data path), TLS with Node's TLS server,
// MQTT over WebSocket with an HTTP(S) server and the ws package.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData as rawWorkerData } from 'node:worker_threads';
import { createLogger, RateLimitedLog } from '../src/log.ts';
import { Counters } from '../src/metrics/counters.ts';
import { ConnectionStats } from '../src/metrics/connection-stats.ts';
import { Admission } from '../src/limits/admission.ts';
import { BrokerTable } from '../src/brokers/broker-table.ts';
import { MAX_BROKERS } from '../src/brokers/layout.ts';
import { StickyTable } from '../src/sticky/table.ts';
import { stickyNowSec } from '../src/sticky/clock.ts';
import { WorkerShares } from '../src/limits/worker-shares.ts';
import { DeadlineList, type DeadlineEntry } from '../src/timers/deadline-list.ts';
import { buildSelector } from '../src/balance/index.ts';
import { identityWantedBy } from './tls-source.ts';
import { TicketKeys } from '../src/tls/ticket-keys.ts';
import { WorkerListeners } from './listeners.ts';
import { WorkerShutdown } from './shutdown.ts';
import type { ClientRecord, WorkerContext } from './worker-context.ts';
import { chooseDatapath } from './datapath.ts';
import { splice } from './splice-addon.ts';
import { NativeSource } from './native-source.ts';
import type { ByteMeter } from './forward.ts';
import type { FromWorker, ToWorker, WorkerData } from '../src/worker-messages.ts';
import type { ResolvedConfig } from '../src/config/resolved.ts';

const data = rawWorkerData as WorkerData;
const port = parentPort!;
const { config } = data;
const log = createLogger(config.log.level, { worker: data.workerId }, data.logFormat);
// This worker's slot of the shared counts: the primary releases it exactly if this thread dies.
const share = new WorkerShares(data.shared.shares).slot(data.workerId);
const brokerTable = new BrokerTable(data.shared.brokers, share);
const stickyTable = new StickyTable(data.shared.sticky);
// The sticky clock (seconds since 2025, cached per thread): the primary's sweep reads the same one.
const nowSec = stickyNowSec;
const counters = new Counters(data.shared.counters, data.workerId);
const stats = new ConnectionStats(data.shared.connections, data.workerId);
/** The selector for a broker set (index = broker-table slot): built at start and on every set change. */
function selectorFor(brokers: ResolvedConfig['brokers'], balance: ResolvedConfig['balance']) {
  return buildSelector(balance.strategy, {
    brokers: brokers.map((b) => ({ name: b.name, weight: b.weight })),
    brokerTable,
    stickyTable,
    stickyTtlSec: config.sticky.ttlSec,
    nowSec,
    loadBound: balance.loadBound,
    onStickyEvent: (event) => counters.add(`sticky_${event}`),
  });
}
const selector = selectorFor(config.brokers, config.balance);
const datapath = chooseDatapath(config.datapath);
if (datapath.note) log.warn(datapath.note);

type Expiring = DeadlineEntry & { expire(): void };
const expire = (c: Expiring) => c.expire();
// After a refusal CONNACK, how long the client gets to read it before the socket is destroyed.
const refusalLingerMs = 2000;
const bytesByBroker: ByteMeter[] = Array.from({ length: MAX_BROKERS }, () => ({ clientToBroker: 0, brokerToClient: 0 }));

const ctx: WorkerContext = {
  workerId: data.workerId,
  config,
  brokerTable,
  selector,
  identityWanted: identityWantedBy(config),
  counters,
  stats,
  admission: new Admission(data.shared.admission, config.limits, data.epochMs, share),
  log,
  faultLog: new RateLimitedLog(log),
  jsPairs: new Map(),
  forward: datapath.forward,
  bytesByBroker,
  pending: new DeadlineList<Expiring>(config.limits.connectTimeoutMs, expire),
  lingering: new DeadlineList<Expiring>(refusalLingerMs, expire),
};

// Broker names were resolved by the primary (b.ip): no worker resolves a name, at start or per connection.
const native = datapath.name === 'splice' ? new NativeSource(ctx, splice!) : undefined;

// Bytes are published while connections live (a pair streaming for a day shows its bytes), once a
// second, in all and per broker: the JS path counts per broker as chunks move, the native engine per thread.
const bytesFlushIntervalMs = 1000;
const nativeByBroker = new Float64Array(MAX_BROKERS * 2);
function flushBytes(): void {
  let [c2b, b2c] = splice ? splice.takeMoved() : [0, 0];
  const nativeRows = splice ? splice.takeMovedByBroker(nativeByBroker) : 0;
  for (let i = 0; i < MAX_BROKERS; i++) {
    const m = bytesByBroker[i];
    const toBroker = m.clientToBroker + (i < nativeRows ? nativeByBroker[2 * i] : 0);
    const toClient = m.brokerToClient + (i < nativeRows ? nativeByBroker[2 * i + 1] : 0);
    c2b += m.clientToBroker;
    b2c += m.brokerToClient;
    m.clientToBroker = 0;
    m.brokerToClient = 0;
    if (toBroker > 0 || toClient > 0) brokerTable.addBytes(i, toBroker, toClient);
  }
  if (c2b > 0) counters.add('bytes_client_to_broker', c2b);
  if (b2c > 0) counters.add('bytes_broker_to_client', b2c);
}
setInterval(flushBytes, bytesFlushIntervalMs).unref();

// TLS listeners (mqtts, wss): they share the process's session ticket keys (src/tls/ticket-keys.ts).
const ticketKeys = new TicketKeys(data.shared.ticketKeys);
const listeners = new WorkerListeners(ctx, native, () => ticketKeys.read());
// SLUICE_TEST_HOOKS=1 only (POST /debug/gc): V8's gc(), exposed on first use (a worker refuses
// --expose-gc in execArgv; the flag set at run time gives a fresh context its gc global).
let gc: (() => void) | undefined;
const post = (m: FromWorker) => port.postMessage(m);

const shutdown = new WorkerShutdown({
  ctx,
  share,
  closeListeners: () => listeners.closeAll(),
  stopSpliced: () => splice?.stopAll() ?? 0,
  flush: flushBytes,
  // process.exit in a worker thread ends the thread only; its sockets close with it.
  exit: () => { port.close(); process.exit(0); },
});

async function listenAll(): Promise<void> {
  const result = await listeners.apply(config.listeners, data.tls, data.listenerSlots);
  if ('failed' in result) post({ type: 'listen-failed', workerId: data.workerId, ...result.failed });
  else post({ type: 'listening', workerId: data.workerId, addresses: result.addresses, datapath: datapath.name });
}

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'close-on-broker': {
      // The native engine's pairs first, then the JS path's (TLS, WebSocket), up to `count` in all.
      let left = m.count - (native?.closeOnBroker(m.broker, m.count) ?? 0);
      for (const pair of ctx.jsPairs.values()) {
        if (left <= 0) break;
        if (pair.broker !== m.broker) continue;
        pair.drain();
        left--;
      }
      break;
    }
    case 'move-to-broker': {
      let left = m.count - (native?.moveToBroker(m.broker, m.count) ?? 0);
      for (const pair of ctx.jsPairs.values()) {
        if (left <= 0) break;
        if (pair.moveTo(m.broker)) left--;
      }
      break;
    }
    case 'runtime': {
      log.level = m.logLevel;
      ctx.config = { ...ctx.config, log: { ...ctx.config.log, level: m.logLevel }, limits: { ...ctx.config.limits, idle: m.idle } };
      break;
    }
    case 'brokers': {
      // Placements in flight finish on the selector they started with; new ones use the new set.
      ctx.config = { ...ctx.config, brokers: m.brokers, balance: m.balance };
      ctx.selector = selectorFor(m.brokers, m.balance);
      ctx.identityWanted = identityWantedBy(ctx.config);
      native?.setBrokers(m.brokers);
      break;
    }
    case 'list-clients': {
      const out: ClientRecord[] = [];
      for (const { record } of ctx.jsPairs.values()) {
        if (m.clientId !== undefined && record.clientId !== m.clientId) continue;
        if (out.length >= m.limit) break;
        out.push(record);
      }
      const nativeTotal = native ? native.list(m.clientId, m.limit, out) : 0;
      post({ type: 'clients', requestId: m.requestId, clients: out, total: ctx.jsPairs.size + nativeTotal });
      break;
    }
    case 'datapath-stats': {
      const st = splice?.stats();
      post({ type: 'datapath-stats', requestId: m.requestId, stats: { pairs: st?.pairs ?? 0, pipesPooled: st?.pipesPooled ?? 0, pipesInUse: st?.pipesInUse ?? 0, holds: st?.holds ?? 0 } });
      break;
    }
    case 'crash':
      if (process.env.SLUICE_TEST_HOOKS === '1') setImmediate(() => { throw new Error('crash requested by a test hook'); });
      break;
    case 'gc':
      if (process.env.SLUICE_TEST_HOOKS !== '1') break;
      if (!gc) { setFlagsFromString('--expose-gc'); gc = runInNewContext('gc') as () => void; }
      gc();
      post({ type: 'heap', requestId: m.requestId, usedHeapBytes: getHeapStatistics().used_heap_size });
      break;
    case 'tls-material':
      // A certificate reload: new handshakes get the new certificates; live connections keep theirs.
      listeners.replaceCertificates(m.material);
      break;
    case 'tls-ticket-keys':
      listeners.setTicketKeys(ticketKeys.read());
      break;
    case 'listeners':
      // A reload: the new list (all of it) and its TLS material; the answer says whether it took.
      void listeners.apply(m.listeners, m.tls, m.slots).then((result) => {
        if ('failed' in result) log.error({ address: result.failed.address, error: result.failed.error }, 'reload: cannot listen; this worker keeps its listeners');
        else {
          ctx.config = { ...ctx.config, listeners: m.listeners };
          ctx.identityWanted = identityWantedBy(ctx.config);
        }
        post({ type: 'listeners-applied', requestId: m.requestId, failed: 'failed' in result ? result.failed : undefined });
      });
      break;
    case 'shutdown':
      shutdown.begin(m.drainMs);
      break;
  }
});

void listenAll();
