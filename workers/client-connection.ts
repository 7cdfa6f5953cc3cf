// One client connection's life in a worker, from accept to hand-over: the CONNECT phase (the pure
// ConnectReader, the CONNECT timeout, max_pending), admission, placement, then forwarding or a refusal.
//
// A connection is an object with prototype methods, reached from its socket through one symbol; the
// socket listeners are shared module functions, so a connection costs no closures. After hand-over to
// the data path the socket forgets the object, and only the compact admin record and what the end of
// forwarding needs stay alive. An outcome is counted before the gauge (pending, admitted) it leaves is
// decremented, so a reader of the shared counts never sees a connection in neither.
import type { Socket } from 'node:net';
import { ConnectReader, refusalOf, type ConnectRefusalVerdict } from '../src/mqtt/connect-reader.ts';
import type { ConnectInfo } from '../src/mqtt/connect.ts';
import { refusalConnack, type Refusal } from '../src/mqtt/connack.ts';
import type { ConnectionEnd } from '../src/metrics/connection-stats.ts';
import { countAccepted, countEnd, countForwarded } from './connection-count.ts';
import type { RouteKey } from '../src/balance/strategy.ts';
import type { DeadlineEntry } from '../src/timers/deadline-list.ts';
import type { ForwardEnd } from './forward.ts';
import { PlacementAttempt, brokerFirstBytes, wantsAssignedId } from './placement.ts';
import { repinIfHomedOn } from './rebalance.ts';
import { readFixedHeader } from '../src/mqtt/frame.ts';
import { idleLimitMs } from '../src/limits/idle.ts';
import { connectBroker } from './broker-connect.ts';
import { proxyV2Header, type TlsFacts } from '../src/proxy/v2-header.ts';
import type { Proxied } from './proxy-front.ts';
import { looksLikeProxyHeader, readProxyHeader } from '../src/proxy/header-reader.ts';
import type { ClientRecord, JsPair, WorkerContext } from './worker-context.ts';

const kConnection = Symbol('sluice.clientConnection');
type ClientSocket = Socket & { [kConnection]?: ClientConnection };

/**
 * connect: reading CONNECT (in ctx.pending); placing: CONNECT read, admitted, a broker being connected;
 * refused: CONNACK/FIN sent, lingering (in ctx.lingering); forwarding: handed to the data path;
 * closed: over before forwarding.
 */
type Phase = 'connect' | 'placing' | 'refused' | 'forwarding' | 'closed';

let nextConnectionId = 1;

/** What a TLS listener knows of a client before its CONNECT: its certificate's CN, whether the client id
 *  must equal it (client_id_must_match), and the TLS facts a PROXY v2 header passes on. */
export type ClientIdentity = { certCn: string | undefined; mustMatchCn: boolean; tls: TlsFacts };

/**
 * What a listener knows of a client before its first byte: its TLS identity; whether its bytes start
 * with a PROXY header (plain TCP listeners read it here); or what a PROXY header read before the TLS
 * handshake or HTTP upgrade said (proxy-front.ts).
 */
/** listener: its count slot (connection-stats.ts). */
export type AcceptedFrom = { listener: number; identity?: ClientIdentity; acceptProxy?: boolean; proxied?: Proxied };

/** The listener's connection callback. */
export function acceptClient(socket: Socket, ctx: WorkerContext, from: AcceptedFrom): void {
  // The constructor registers the connection where it lives (socket, pending list); nothing to keep here.
  new ClientConnection(socket as ClientSocket, ctx, from);
}

class ClientConnection implements DeadlineEntry {
  deadlinePrev: DeadlineEntry | undefined = undefined;
  deadlineNext: DeadlineEntry | undefined = undefined;
  deadlineMs = 0;
  readonly id: number;
  readonly socket: ClientSocket;
  readonly ctx: WorkerContext;
  readonly acceptedMs: number;
  /** The listener's count slot. */
  readonly listener: number;
  phase: Phase = 'connect';
  reader: ConnectReader | undefined;
  admitted = false; // holds a max_connections slot
  readonly identity: ClientIdentity | undefined;
  /** Bytes of a PROXY header still being read (an empty Buffer before the first), or undefined: done or none. */
  proxyBytes: Buffer | undefined;
  /** What a front balancer's PROXY header said: the client's address and the one it connected to. */
  proxied: Proxied | undefined;

  constructor(socket: ClientSocket, ctx: WorkerContext, from: AcceptedFrom) {
    this.id = nextConnectionId++;
    this.listener = from.listener;
    this.identity = from.identity;
    this.proxied = from.proxied;
    this.proxyBytes = from.acceptProxy ? Buffer.alloc(0) : undefined;
    this.socket = socket;
    this.ctx = ctx;
    this.acceptedMs = Date.now();
    this.reader = new ConnectReader(ctx.config.limits.maxConnectBytes);
    socket[kConnection] = this;
    countAccepted(ctx, this.listener);
    socket.on('data', onSocketData);
    // FIN before the CONNECT is whole: the client gave up (a port probe, an aborted connect).
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
    socket.on('error', onSocketError);
    ctx.pending.add(this);
    if (!ctx.admission.pendingStarted()) this.makeRoom();
  }

  /**
   * Over this worker's part of max_pending: its oldest pending client goes. A real client sends CONNECT
   * right behind its handshake, so the oldest is the one that is not going to (a silent socket). The list
   * holds more than its bound (>= 1) entries here, so the oldest is never this new one.
   */
  makeRoom(): void {
    const oldest = this.ctx.pending.oldest() as ClientConnection;
    oldest.close('pending_evicted', 'pending client evicted: limits.max_pending reached', { pendingMs: Date.now() - oldest.acceptedMs });
  }

  remote(): string {
    const p = this.proxied?.source;
    return p ? `${p.ip}:${p.port}` : `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  /** The PROXY header phase: the bytes after the header once it is complete; undefined while it is not
   *  (or when it was refused, and the connection closed). */
  readProxy(chunk: Buffer): Buffer | undefined {
    const bytes = this.proxyBytes!.length === 0 ? chunk : Buffer.concat([this.proxyBytes!, chunk]);
    const h = readProxyHeader(bytes);
    if (h.kind === 'need-more') {
      this.proxyBytes = bytes;
      return undefined;
    }
    this.proxyBytes = undefined;
    if (h.kind === 'invalid') {
      this.close('refused_bad_proxy_header', 'bad PROXY header from the front balancer; closed', { why: h.reason });
      return undefined;
    }
    if (h.source && h.destination) this.proxied = { source: h.source, destination: h.destination };
    return bytes.subarray(h.length);
  }

  onData(chunk: Buffer): void {
    if (this.phase !== 'connect') return;
    if (this.proxyBytes !== undefined) {
      const rest = this.readProxy(chunk);
      if (rest === undefined || rest.length === 0) return;
      chunk = rest;
    }
    let r;
    try {
      r = this.reader!.push(chunk);
    } catch (err) {
      return this.internalError(err, undefined);
    }
    switch (r.kind) {
      case 'need-more':
        return;
      case 'complete':
        return this.admit(r.connect, r.bytes);
      case 'not-connect':
        if (looksLikeProxyHeader(chunk)) {
          return this.refuseConnect(r, 'refused_unexpected_proxy_header', 'a PROXY header on a listener without accept_proxy_protocol', {});
        }
        return this.refuseConnect(r, 'refused_not_connect', 'first packet is not CONNECT', { packetType: r.packetType });
      case 'malformed':
        return this.refuseConnect(r, 'refused_malformed', 'malformed CONNECT', { why: r.reason });
      case 'unsupported-protocol':
        return this.refuseConnect(r, 'refused_unsupported_protocol', 'unsupported MQTT protocol level', { protocolName: r.protocolName, protocolLevel: r.protocolLevel });
      case 'too-large':
        return this.refuseConnect(r, 'refused_too_large', 'CONNECT larger than limits.max_connect_size',
          { packetBytes: r.packetBytes, maxConnectBytes: this.ctx.config.limits.maxConnectBytes });
    }
  }

  refuseConnect(r: ConnectRefusalVerdict, counter: ConnectionEnd, msg: string, fields: Record<string, unknown>): void {
    const { refusal, protocolLevel, protocolName } = refusalOf(r);
    this.refuse(refusal, protocolLevel, protocolName, counter, msg, fields);
  }

  /** The client sent FIN before its CONNECT was whole: nothing will complete it, so close at once. */
  onEnd(): void {
    if (this.phase !== 'connect') return;
    const bufferedBytes = this.reader!.bufferedBytes;
    countEnd(this.ctx, this.listener, 'client_ended_before_connect');
    this.endConnectPhase('closed');
    if (this.ctx.log.isLevelEnabled('debug')) this.ctx.log.debug({ remote: this.remote(), bufferedBytes }, 'client ended its stream before CONNECT was complete');
    this.socket.destroy();
  }

  onClose(): void {
    switch (this.phase) {
      case 'connect':
        countEnd(this.ctx, this.listener, 'client_closed_before_connect');
        this.endConnectPhase('closed');
        if (this.ctx.log.isLevelEnabled('debug')) this.ctx.log.debug({ remote: this.remote() }, 'client closed before CONNECT');
        return;
      case 'refused':
        this.ctx.lingering.remove(this);
        this.phase = 'closed';
        return;
      default:
        // placing: placement sees socket.destroyed after its connect and gives the slot back.
        return;
    }
  }

  /** The CONNECT timeout (from ctx.pending) or the end of a refusal's linger (from ctx.lingering). */
  expire(): void {
    if (this.phase === 'connect') {
      this.refuse(undefined, undefined, undefined, 'refused_connect_timeout', 'CONNECT not complete within the timeout',
        { bufferedBytes: this.reader!.bufferedBytes });
    } else if (this.phase === 'refused') {
      this.phase = 'closed';
      this.socket.destroy();
    }
  }

  endConnectPhase(next: Phase): void {
    this.phase = next;
    this.reader = undefined;
    this.ctx.pending.remove(this);
    this.ctx.admission.pendingEnded();
    this.socket.off('data', onSocketData);
    this.socket.off('end', onSocketEnd);
    // Paused: bytes the client sends while the broker connects wait in the kernel (backpressure).
    this.socket.pause();
  }

  /** Ends a pending connection without an answer (max_pending): counted and logged as `counter`. */
  close(counter: ConnectionEnd, msg: string, fields: Record<string, unknown>): void {
    countEnd(this.ctx, this.listener, counter);
    this.endConnectPhase('closed');
    this.ctx.faultLog.warn(counter, { remote: this.remote(), ...fields }, msg);
    this.socket.destroy();
  }

  /** Refuses the client: the CONNACK MQTT has for the case (or none), FIN, then destroy after a linger. */
  refuse(refusal: Refusal | undefined, level: number | undefined, protocolName: string | undefined,
    counter: ConnectionEnd, msg: string, fields: Record<string, unknown>): void {
    countEnd(this.ctx, this.listener, counter);
    if (this.phase === 'connect') this.endConnectPhase('refused');
    else this.phase = 'refused';
    this.releaseSlot();
    this.ctx.faultLog.warn(counter, { remote: this.remote(), ...fields }, msg);
    if (this.socket.destroyed) {
      this.phase = 'closed'; // the client left while it was being placed: nobody to answer
      return;
    }
    const connack = refusal ? refusalConnack(refusal, level, protocolName) : undefined;
    // Discard anything more the client sends; the answer (if MQTT has one) goes out before FIN.
    this.socket.resume();
    if (connack) this.socket.end(connack);
    else this.socket.end();
    this.ctx.lingering.add(this);
  }

  releaseSlot(): void {
    if (!this.admitted) return;
    this.admitted = false;
    this.ctx.admission.release();
  }

  /** A Sluice bug on this connection's path: refuse this client (0x80 / 0x03), log, count; the worker goes on. */
  internalError(err: unknown, connect: ConnectInfo | undefined): void {
    this.ctx.faultLog.error('internal_error', { remote: this.remote(), phase: this.phase, err: errorText(err) }, 'internal error placing a client; refused');
    if (this.phase === 'connect' || this.phase === 'placing') {
      this.refuse('internal-error', connect?.protocolLevel, undefined, 'refused_internal_error', 'client refused after an internal error', {});
    } else {
      countEnd(this.ctx, this.listener, 'refused_internal_error');
      this.releaseSlot();
      this.socket.destroy();
    }
  }

  admit(connect: ConnectInfo, bytes: Buffer): void {
    this.endConnectPhase('placing');
    if (this.identity?.mustMatchCn && connect.clientId !== this.identity.certCn) {
      return this.refuse('client-id-rejected', connect.protocolLevel, undefined, 'refused_client_id_mismatch',
        'client id is not the client certificate\'s CN (client_id_must_match)', { clientId: connect.clientId, certCn: this.identity.certCn });
    }
    const verdict = this.ctx.admission.admit(Date.now());
    if (verdict === 'max-connections') {
      return this.refuse('quota-exceeded', connect.protocolLevel, undefined, 'refused_max_connections', 'limits.max_connections reached', { clientId: connect.clientId });
    }
    if (verdict === 'connect-rate') {
      return this.refuse('connection-rate-exceeded', connect.protocolLevel, undefined, 'refused_connect_rate', 'limits.connect_rate exceeded', { clientId: connect.clientId });
    }
    this.admitted = true;
    this.place(connect, bytes).catch((err: unknown) => this.internalError(err, connect));
  }

  async place(connect: ConnectInfo, bytes: Buffer): Promise<void> {
    let attempt: PlacementAttempt;
    try {
      attempt = new PlacementAttempt(this.ctx, this.id, connect, () => this.proxied?.source.ip ?? this.socket.remoteAddress, this.identity?.certCn);
    } catch (err) {
      return this.internalError(err, connect);
    }
    const { brokers, limits } = this.ctx.config;
    for (let index = attempt.next(); index >= 0; index = attempt.next()) {
      // The primary resolved the broker's name (b.ip); one that did not resolve is never dialed.
      const ip = brokers[index].ip;
      const result = ip === undefined ? { ok: false as const, reason: 'ENOTFOUND' } : await connectBroker(ip, brokers[index].port, limits.brokerConnectTimeoutMs);
      if (this.socket.destroyed) {
        if (result.ok) result.socket.destroy();
        countEnd(this.ctx, this.listener, 'client_closed_while_placing');
        this.phase = 'closed';
        this.releaseSlot();
        return;
      }
      if (!result.ok) {
        attempt.failed(result.reason);
        continue;
      }
      try {
        attempt.placed();
        return this.startForwarding(connect, bytes, attempt, result.socket);
      } catch (err) {
        result.socket.destroy();
        return this.internalError(err, connect);
      }
    }
    this.refuse('server-unavailable', connect.protocolLevel, undefined, 'refused_no_broker', 'no broker reachable', { clientId: connect.clientId });
  }

  startForwarding(connect: ConnectInfo, bytes: Buffer, p: PlacementAttempt, broker: Socket): void {
    const { ctx, socket } = this;
    const record: ClientRecord = {
      clientId: connect.clientId, username: connect.username, protocolLevel: connect.protocolLevel,
      broker: ctx.config.brokers[p.broker].name, worker: ctx.workerId, remote: this.remote(), sinceMs: Date.now(),
    };
    // From here the socket belongs to the data path, and the admission slot to the pair.
    this.phase = 'forwarding';
    this.admitted = false;
    socket[kConnection] = undefined;
    socket.off('close', onSocketClose);
    socket.off('error', onSocketError);
    const pair = new ForwardedPair(ctx, this.id, this.listener, p.broker, p.key, p.pinned, record, () => { socket.destroy(); broker.destroy(); });
    countForwarded(ctx, this.listener, Date.now() - this.acceptedMs);
    if (ctx.log.isLevelEnabled('debug')) ctx.log.debug({ remote: record.remote, clientId: record.clientId, broker: record.broker }, 'client placed');
    // CONNECT and every byte read after it go first, in order; then the data path takes both sockets.
    const meter = ctx.bytesByBroker[p.broker];
    meter.clientToBroker += bytes.length;
    if (ctx.config.brokers[p.broker].proxyProtocol === 'v2') {
      // Behind a front balancer: its addresses are passed on; else this socket's.
      const { source, destination } = this.proxied ?? { source: { ip: socket.remoteAddress!, port: socket.remotePort! }, destination: { ip: socket.localAddress!, port: socket.localPort! } };
      broker.write(proxyV2Header(source, destination, this.identity?.tls));
    }
    broker.write(bytes);
    ctx.forward(socket, broker, meter, idleLimitMs(ctx.config.limits.idle, connect.keepaliveSec)).then((end) => pair.end(end), (err: unknown) => pair.fail(err));
    // After forward() took the socket (its listeners are first): this one only reads the CONNACK.
    const pin = wantsAssignedId(ctx, connect, this.identity?.certCn);
    if (p.judgesConnack || pin) tapFirstPacket(broker, (bytes) => brokerFirstBytes(ctx, p.broker, bytes, p.judgesConnack, pin));
  }
}

/**
 * A forwarded pair's share of the counts (admission slot, broker live count, admin record), from
 * hand-over to its end, and nothing more: the connection object is gone by then.
 */
class ForwardedPair implements JsPair {
  readonly #ctx: WorkerContext;
  readonly #id: number;
  readonly #listener: number;
  readonly broker: number;
  readonly #key: RouteKey;
  readonly #pinned: boolean;
  readonly record: ClientRecord;
  readonly #close: () => void;
  /** Why Sluice closed it, if it did: counted when it ends. */
  #closedFor: 'drain' | 'move' | undefined;

  constructor(ctx: WorkerContext, id: number, listener: number, broker: number, key: RouteKey, pinned: boolean, record: ClientRecord, close: () => void) {
    this.#ctx = ctx;
    this.#id = id;
    this.#listener = listener;
    this.broker = broker;
    this.#key = key;
    this.#pinned = pinned;
    this.record = record;
    this.#close = close;
    ctx.jsPairs.set(id, this);
    ctx.brokerTable.connectionOpened(broker);
  }

  /** Its broker drains at a bounded rate and this pair is one of this tick's: both sides close now. */
  drain(): void {
    this.#closedFor = 'drain';
    this.#close();
  }

  shutdown(): void {
    this.#close();
  }

  moveTo(to: number): boolean {
    if (!this.#pinned || this.#closedFor !== undefined || !repinIfHomedOn(this.#ctx, this.#key, this.broker, to)) return false;
    this.#closedFor = 'move';
    this.#close();
    return true;
  }

  end(end: ForwardEnd): void {
    const ctx = this.#ctx;
    countEnd(ctx, this.#listener, 'connections_closed');
    if (this.#closedFor === 'drain') ctx.counters.add('connections_drained');
    if (this.#closedFor === 'move') ctx.counters.add('connections_rebalanced');
    if (end.reason === 'idle') idleClosed(ctx, this.record.clientId, this.record.remote);
    this.#release();
    try {
      // A client that leaves keeps its pin for a full TTL from now, not from when it first connected.
      if (this.#pinned) ctx.selector.released?.(this.#key, this.broker);
    } catch (err) {
      ctx.faultLog.error('internal_error', { err: errorText(err) }, 'internal error releasing a sticky pin');
    }
    if (ctx.log.isLevelEnabled('debug')) ctx.log.debug({ remote: this.record.remote, clientId: this.record.clientId, broker: this.record.broker, ...end }, 'connection ended');
  }

  fail(err: unknown): void {
    countEnd(this.#ctx, this.#listener, 'connections_closed');
    this.#release();
    this.#ctx.faultLog.error('internal_error', { err: errorText(err) }, 'data path failed');
  }

  #release(): void {
    this.#ctx.jsPairs.delete(this.#id);
    this.#ctx.admission.release();
    this.#ctx.brokerTable.connectionClosed(this.broker);
  }
}

/** Collects `socket`'s first MQTT packet (at most 64 KiB) as it is forwarded and hands it to `done`. */
function tapFirstPacket(socket: Socket, done: (bytes: Buffer) => void): void {
  let got: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    got = got.length === 0 ? chunk : Buffer.concat([got, chunk]);
    const h = readFixedHeader(got);
    if (h.kind === 'need-more' || (h.kind === 'header' && got.length < h.header.packetBytes && got.length < 65_536)) return;
    socket.off('data', onData);
    try {
      done(got);
    } catch { /* a pin that could not be made: the client is placed anyway */ }
  };
  socket.on('data', onData);
}

/** A forwarded client closed by its idle limit (either data path): counted and logged (rate-limited). */
export function idleClosed(ctx: WorkerContext, clientId: string, remote: string): void {
  ctx.counters.add('connections_idle_closed');
  ctx.faultLog.warn('connections_idle_closed', { clientId, remote, idle: ctx.config.limits.idle },
    ctx.config.limits.idle === 'keepalive' ? 'client sent nothing for 1.5x its keep-alive; connection closed' : 'client sent nothing for limits.idle; connection closed');
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

// Shared socket listeners: `this` is the socket (EventEmitter calls listeners with it).
function onSocketData(this: ClientSocket, chunk: Buffer): void {
  this[kConnection]?.onData(chunk);
}

function onSocketEnd(this: ClientSocket): void {
  this[kConnection]?.onEnd();
}

function onSocketClose(this: ClientSocket): void {
  this[kConnection]?.onClose();
}

function onSocketError(this: ClientSocket, err: NodeJS.ErrnoException): void {
  // Resets and timeouts before forwarding end the connection; 'close' follows and is counted there.
  const c = this[kConnection];
  if (c && c.ctx.log.isLevelEnabled('debug')) c.ctx.log.debug({ remote: c.remote(), err: err.code ?? err.message }, 'client socket error');
}
