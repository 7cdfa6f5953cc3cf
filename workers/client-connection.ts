// One client connection's life in a worker: read CONNECT (size cap, timeout), admit, route, connect a
// broker, hand CONNECT and any bytes after it to the broker, then forward unparsed.
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { RateLimitedLog } from '../src/log.ts';
import type { ResolvedConfig } from '../src/config/resolved.ts';
import type { Counters, CounterName } from '../src/metrics/counters.ts';
import type { Admission } from '../src/limits/admission.ts';
import type { BrokerTable } from '../src/brokers/broker-table.ts';
import type { Selector, RouteKey } from '../src/balance/strategy.ts';
import { hashKey } from '../src/hash.ts';
import { readConnect, type ConnectInfo } from '../src/mqtt/connect.ts';
import { readFixedHeader } from '../src/mqtt/frame.ts';
import { refusalConnack, type Refusal } from '../src/mqtt/connack.ts';
import { routeKeyText } from './route-key.ts';
import { connectBroker } from './broker-connect.ts';
import type { ForwardFn } from './forward.ts';

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

export type WorkerContext = {
  workerId: number;
  config: ResolvedConfig;
  brokerTable: BrokerTable;
  selector: Selector;
  counters: Counters;
  admission: Admission;
  log: Logger;
  faultLog: RateLimitedLog;
  clients: Map<number, ClientRecord>;
  forward: ForwardFn;
};

// Below this many buffered bytes the CONNECT reader is cheap to run on every segment: the fixed header,
// protocol name and level all fit, so early verdicts (not CONNECT, bad level, too large) come at once.
const eagerParseBytes = 16;
// After a refusal CONNACK, how long the client gets to read it before the socket is destroyed.
const refusalLingerMs = 2000;

let nextConnectionId = 1;

export function handleClient(client: Socket, ctx: WorkerContext): void {
  const id = nextConnectionId++;
  const remote = `${client.remoteAddress}:${client.remotePort}`;
  ctx.counters.add('connections_accepted');
  const admission = ctx.admission.admit(Date.now());
  // The admission slot is held until the connection is really over: for a forwarded pair that is when
  // the data path ends (the splice path destroys the Node socket at hand-over, long before the end).
  let forwarding = false;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    ctx.admission.release();
  };
  client.once('close', () => { if (!forwarding) release(); });

  const chunks: Buffer[] = [];
  let bufferedBytes = 0;
  let packetBytes = 0; // the CONNECT's full size, once its fixed header has been read
  let finished = false; // the CONNECT phase is over (refused, timed out, closed, or handed to routing)

  const timer = setTimeout(() => {
    refuse(undefined, undefined, 'refused_connect_timeout', 'CONNECT not complete within the timeout', { bufferedBytes });
  }, ctx.config.limits.connectTimeoutMs);

  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    bufferedBytes += chunk.length;
    // Parse when a verdict can change: while the header is short, or once the whole packet is here.
    // Waiting in between keeps a CONNECT split into many segments linear, not quadratic, to read.
    if (bufferedBytes >= eagerParseBytes && packetBytes > 0 && bufferedBytes < packetBytes) return;
    const buf = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, bufferedBytes);
    chunks.length = 0;
    chunks.push(buf);
    const r = readConnect(buf, ctx.config.limits.maxConnectBytes);
    switch (r.kind) {
      case 'need-more':
        if (packetBytes === 0) packetBytes = knownPacketBytes(buf);
        return;
      case 'not-connect':
        return refuse('malformed', undefined, 'refused_not_connect', 'first packet is not CONNECT', { packetType: r.packetType });
      case 'malformed':
        return refuse('malformed', r.protocolLevel, 'refused_malformed', 'malformed CONNECT', { why: r.reason });
      case 'unsupported-protocol':
        return refuse('unsupported-protocol', r.protocolLevel, 'refused_unsupported_protocol', 'unsupported MQTT protocol level',
          { protocolName: r.protocolName, protocolLevel: r.protocolLevel });
      case 'too-large':
        return refuse('too-large', r.protocolLevel, 'refused_too_large', 'CONNECT larger than limits.max_connect_size',
          { packetBytes: r.packetBytes, maxConnectBytes: ctx.config.limits.maxConnectBytes });
      case 'complete':
        endConnectPhase();
        chunks.length = 0; // `buf` goes to the broker; this closure must not keep it for the connection's life
        void route(r.connect, buf);
    }
  };

  const onEarlyClose = () => {
    if (finished) return;
    endConnectPhase();
    ctx.counters.add('client_closed_before_connect');
    ctx.log.debug({ remote, bufferedBytes }, 'client closed before CONNECT');
  };

  client.on('data', onData);
  client.once('close', onEarlyClose);
  // Errors before forwarding (resets, timeouts) end the connection; 'close' follows and is counted there.
  client.on('error', (err: NodeJS.ErrnoException) => ctx.log.debug({ remote, err: err.code ?? err.message }, 'client socket error'));

  function endConnectPhase(): void {
    finished = true;
    clearTimeout(timer);
    client.off('data', onData);
    // Paused: bytes the client sends while the broker connects wait in the kernel (backpressure).
    client.pause();
  }

  function refuse(refusal: Refusal | undefined, level: number | undefined, counter: CounterName, msg: string, fields: Record<string, unknown>): void {
    if (!finished) endConnectPhase();
    ctx.counters.add(counter);
    ctx.faultLog.warn(counter, { remote, ...fields }, msg);
    const connack = refusal ? refusalConnack(refusal, level) : undefined;
    // Discard anything more the client sends; the answer (if MQTT has one) goes out before FIN.
    client.resume();
    if (connack) client.end(connack);
    else client.end();
    setTimeout(() => client.destroy(), refusalLingerMs).unref();
  }

  async function route(connect: ConnectInfo, bytes: Buffer): Promise<void> {
    if (admission !== 'ok') {
      const maxed = admission === 'max-connections';
      return refuse(maxed ? 'quota-exceeded' : 'connection-rate-exceeded', connect.protocolLevel,
        maxed ? 'refused_max_connections' : 'refused_connect_rate',
        maxed ? 'limits.max_connections reached' : 'limits.connect_rate exceeded', { clientId: connect.clientId });
    }
    const keyText = routeKeyText(ctx.config.balance.key, connect, client.remoteAddress);
    // No key at all (every source empty): place by a one-off key, so the strategy still spreads load.
    const key: RouteKey = keyText
      ? { text: keyText.text, hash: hashKey(keyText.text) }
      : { text: `conn:${id}`, hash: hashKey(`conn:${process.pid}:${ctx.workerId}:${id}:${Date.now()}`) };
    const brokers = ctx.config.brokers;
    for (const index of ctx.selector.candidates(key)) {
      if (!ctx.brokerTable.isHealthy(index) || ctx.brokerTable.isDraining(index)) continue;
      const b = brokers[index];
      const result = await connectBroker(b.host, b.port, ctx.config.limits.brokerConnectTimeoutMs);
      if (client.destroyed) {
        if (result.ok) result.socket.destroy();
        return;
      }
      if (!result.ok) {
        ctx.counters.add('broker_connect_failures');
        ctx.faultLog.warn('broker_connect_failed', { broker: b.name, address: b.address, why: result.reason }, 'broker connect failed; trying the next candidate');
        continue;
      }
      if (keyText) ctx.selector.placed?.(key, index);
      return startForwarding(connect, bytes, key, keyText !== undefined, index, result.socket);
    }
    refuse('server-unavailable', connect.protocolLevel, 'refused_no_broker', 'no broker reachable', { clientId: connect.clientId });
  }

  function startForwarding(connect: ConnectInfo, bytes: Buffer, key: RouteKey, pinned: boolean, index: number, broker: Socket): void {
    const b = ctx.config.brokers[index];
    forwarding = true;
    ctx.brokerTable.connectionOpened(index);
    ctx.counters.add('connections_forwarded');
    ctx.clients.set(id, {
      clientId: connect.clientId, username: connect.username, protocolLevel: connect.protocolLevel,
      broker: b.name, worker: ctx.workerId, remote, sinceMs: Date.now(),
    });
    ctx.log.debug({ remote, clientId: connect.clientId, broker: b.name }, 'client placed');
    // CONNECT and every byte read after it go first, in order; then the data path takes both sockets.
    broker.write(bytes);
    ctx.forward(client, broker).then((end) => {
      release();
      ctx.brokerTable.connectionClosed(index);
      ctx.clients.delete(id);
      ctx.counters.add('connections_closed');
      ctx.counters.add('bytes_client_to_broker', end.bytesClientToBroker);
      ctx.counters.add('bytes_broker_to_client', end.bytesBrokerToClient);
      // A client that leaves keeps its pin for a full TTL from now, not from when it first connected.
      if (pinned) ctx.selector.released?.(key, index);
      ctx.log.debug({ remote, clientId: connect.clientId, broker: b.name, ...end }, 'connection ended');
    }, (err: unknown) => {
      release();
      ctx.brokerTable.connectionClosed(index);
      ctx.clients.delete(id);
      ctx.log.error({ err }, 'data path failed');
    });
  }
}

/** Packet size from a complete fixed header, or 0 while the header is still partial. */
function knownPacketBytes(buf: Buffer): number {
  const r = readFixedHeader(buf);
  return r.kind === 'header' ? r.header.packetBytes : 0;
}
