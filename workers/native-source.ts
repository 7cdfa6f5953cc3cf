// The native connection source (plain TCP on Linux): the addon owns every socket from accept to close
// (native/engine.c), and this file decides what it hands over: it reads each CONNECT (the same
// readConnect every source uses), applies the limits, places the client (the same PlacementAttempt),
// and answers with a refusal or a broker. Events come batched, once per loop wake-up.
//
// A connection is a slot (the engine's id for it) and a few numbers in typed arrays indexed by slot: no
// object, closure, promise or timer per connection once it is forwarded. Only the client id and user
// name strings (the admin view needs them) and, while a broker is being connected, the placement attempt.
import { Buffer } from 'node:buffer';
import { constants as osConstants } from 'node:os';
import { readConnect, type ConnectInfo } from '../src/mqtt/connect.ts';
import { bytesWanted, refusalOf, type ConnectRefusalVerdict } from '../src/mqtt/connect-reader.ts';
import { refusalConnack, type Refusal } from '../src/mqtt/connack.ts';
import type { ConnectionEnd } from '../src/metrics/connection-stats.ts';
import { countAccepted, countEnd, countForwarded } from './connection-count.ts';
import { keyHashOf } from '../src/hash.ts';
import type { ClientRecord } from '../src/worker-messages.ts';
import type { BrokerConfig } from '../src/config/resolved.ts';
import { EngineEvent, TapFlags, kEventFields, spliceEndReasons, type SpliceBinding } from './splice-addon.ts';
import { PlacementAttempt, brokerFirstBytes, wantsAssignedId } from './placement.ts';
import { idleLimitMs } from '../src/limits/idle.ts';
import { idleClosed } from './client-connection.ts';
import { repinIfHomedOn } from './rebalance.ts';
import { kIdleSweepMs } from './idle-sweep.ts';
import type { WorkerContext } from './worker-context.ts';
import { proxyV2Header, type Endpoint } from '../src/proxy/v2-header.ts';
import { looksLikeProxyHeader, readProxyHeader } from '../src/proxy/header-reader.ts';

/** A client behind a front balancer: its address, and the one it connected to, from the PROXY header. */
type Proxied = { source: Endpoint; destination: Endpoint };

// A slot's phase, as this side sees it.
const kFree = 0;
const kPending = 1; // CONNECT phase: counted in max_pending
const kPlacing = 2; // admitted: a broker is being connected
const kForwarding = 3;

const kBatchEvents = 1024;
const kBatchDataBytes = 1 << 20;
const kInitialSlots = 1024;
// After a refusal CONNACK, how long the client gets to read it before the engine closes the socket.
const kRefusalLingerMs = 2000;

const errnoNames = new Map(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));
const errnoName = (n: number): string => errnoNames.get(n) ?? `errno ${n}`;

export class NativeSource {
  readonly #ctx: WorkerContext;
  readonly #engine: SpliceBinding;
  readonly #events = new Float64Array(kBatchEvents * kEventFields);
  readonly #data = Buffer.alloc(kBatchDataBytes);
  /** Brokers the engine can dial (a name that did not resolve is skipped like a failed connect). */
  #dialable: boolean[] = [];
  // Per slot.
  #phase = new Uint8Array(kInitialSlots);
  #level = new Uint8Array(kInitialSlots); // the CONNECT's protocol level, for the CONNACK of a later refusal
  #broker = new Int16Array(kInitialSlots);
  #keyHi = new Uint32Array(kInitialSlots);
  #keyLo = new Uint32Array(kInitialSlots);
  #pinned = new Uint8Array(kInitialSlots);
  #tap = new Uint8Array(kInitialSlots); // TapFlags: what the broker's first bytes are read for
  #moved = new Uint8Array(kInitialSlots); // 1: closed by a rebalance (its end is counted so)
  /** Where the next rebalance scan starts: each goes on from the last, not from slot 0 again. */
  #moveScan = 0;
  #sinceMs = new Float64Array(kInitialSlots);
  #clientId: (string | undefined)[] = [];
  #username: (string | undefined)[] = [];
  #attempt: (PlacementAttempt | undefined)[] = [];
  #listener = new Uint8Array(kInitialSlots); // the engine's listener index
  #countSlot = new Uint8Array(kInitialSlots); // its listener's count slot (connection-stats.ts), fixed at accept
  #acceptedMs = new Float64Array(kInitialSlots);
  #skip = new Uint16Array(kInitialSlots); // bytes of a PROXY header read before the CONNECT (0: none yet)
  /** Where a front balancer's PROXY header says the client is (undefined: the socket's own addresses). */
  #proxied: (Proxied | undefined)[] = [];
  #forwarding = 0;
  /** Per engine listener index: its count slot. */
  readonly #listenerCountSlot: number[] = [];
  /** Per engine listener index: its clients start with a PROXY header. */
  readonly #acceptsProxy: boolean[] = [];
  /** The slot whose PlacementAttempt is being built: its constructor asks for the address, synchronously. */
  #placingSlot = -1;
  readonly #remoteOfPlacing = (): string | undefined => this.#proxied[this.#placingSlot]?.source.ip ?? this.#engine.remoteAddress(this.#placingSlot)?.[0];

  constructor(ctx: WorkerContext, engine: SpliceBinding) {
    this.#ctx = ctx;
    this.#engine = engine;
    const { limits } = ctx.config;
    engine.init(this.#onEvents, this.#events, this.#data);
    engine.configureEngine(limits.connectTimeoutMs, limits.brokerConnectTimeoutMs, kRefusalLingerMs, limits.maxConnectBytes, ctx.config.coalesceUs);
    this.setBrokers(ctx.config.brokers);
    // Idle limits: one sweep a second over the engine's pairs (it compares byte counts; no clock per read;
    // pairs without a limit are skipped). Always on: a reload can turn limits.idle on.
    setInterval(() => engine.sweepIdle(), kIdleSweepMs).unref();
  }

  /** The broker set by slot, with the addresses the primary resolved: connects from now on use it
   *  (one in flight has its address already). A broker whose name did not resolve is never dialed. */
  setBrokers(brokers: readonly BrokerConfig[]): void {
    this.#dialable = brokers.map((b) => b.ip !== undefined);
    this.#engine.setBrokers(brokers.map((b) => b.ip ?? '127.0.0.1'), brokers.map((b) => b.port));
  }

  /** Listens on a resolved IP (undefined: every address): the engine's listener index, or an errno name. */
  listen(host: string | undefined, port: number, acceptProxy: boolean, countSlot: number): number | string {
    const index = this.#engine.listen(host ?? null, port, 4096);
    if (typeof index === 'number') {
      this.#acceptsProxy[index] = acceptProxy;
      this.#listenerCountSlot[index] = countSlot;
    }
    return index;
  }

  /** Closes one listener (a reload removed it); the clients it accepted go on. */
  closeListener(index: number): void {
    this.#engine.closeListener(index);
  }

  /** Ends up to `count` forwarding pairs on broker slot `broker` (a drain at a bounded rate); how many. */
  closeOnBroker(broker: number, count: number): number {
    let n = 0;
    for (let slot = 0; slot < this.#phase.length && n < count; slot++) {
      if (this.#phase[slot] === kForwarding && this.#broker[slot] === broker && this.#engine.endPair(slot) === undefined) n++;
    }
    return n;
  }

  /** A rebalance toward broker slot `to`: up to `count` pinned clients homed there are re-pinned to it and
   *  closed (their reconnects land on it); how many. */
  moveToBroker(to: number, count: number): number {
    const slots = this.#phase.length;
    let n = 0;
    let k = 0;
    for (; k < slots && n < count; k++) {
      const slot = (this.#moveScan + k) % slots;
      if (this.#phase[slot] !== kForwarding || this.#pinned[slot] !== 1 || this.#moved[slot] === 1) continue;
      const key = { text: '', hash: keyHashOf(this.#keyHi[slot], this.#keyLo[slot]) };
      if (!repinIfHomedOn(this.#ctx, key, this.#broker[slot], to) || this.#engine.endPair(slot) !== undefined) continue;
      this.#moved[slot] = 1;
      n++;
    }
    this.#moveScan = (this.#moveScan + k) % slots;
    return n;
  }

  /** "ip:port" of the client (a front balancer's PROXY source if it sent one), for a log line. */
  #remoteText(slot: number): string | undefined {
    const front = this.#proxiedText(slot);
    if (front) return front;
    const r = this.#engine.remoteAddress(slot);
    return r ? `${r[0]}:${r[1]}` : undefined;
  }

  /** "ip:port" a front balancer's PROXY header gave for the client (undefined: none). */
  #proxiedText(slot: number): string | undefined {
    const front = this.#proxied[slot]?.source;
    return front ? `${front.ip}:${front.port}` : undefined;
  }

  /** Forwarded clients, for the admin view. */
  list(clientId: string | undefined, limit: number, out: ClientRecord[]): number {
    const brokers = this.#ctx.config.brokers;
    for (let slot = 0; slot < this.#phase.length && out.length < limit; slot++) {
      if (this.#phase[slot] !== kForwarding || (clientId !== undefined && this.#clientId[slot] !== clientId)) continue;
      const proxied = this.#proxied[slot]?.source;
      const remote = proxied ? [proxied.ip, proxied.port] : this.#engine.remoteAddress(slot);
      out.push({
        clientId: this.#clientId[slot] ?? '', username: this.#username[slot], protocolLevel: this.#level[slot],
        broker: brokers[this.#broker[slot]].name, worker: this.#ctx.workerId,
        remote: remote ? `${remote[0]}:${remote[1]}` : '', sinceMs: this.#sinceMs[slot],
      });
    }
    return this.#forwarding;
  }

  readonly #onEvents = (count: number): void => {
    const ev = this.#events;
    for (let i = 0; i < count; i++) {
      const at = i * kEventFields;
      const kind = ev[at];
      const slot = ev[at + 1];
      try {
        this.#handle(kind, slot, ev[at + 2], ev[at + 3], ev[at + 4], ev[at + 5]);
      } catch (err) {
        this.#internalError(slot, err);
      }
    }
  };

  #handle(kind: number, slot: number, a: number, b: number, c: number, d: number): void {
    const ctx = this.#ctx;
    switch (kind) {
      case EngineEvent.accepted:
        this.#accepted(slot, a);
        return;
      case EngineEvent.data:
        if (this.#phase[slot] === kPending) this.#judge(slot, b >= 0 ? this.#data.subarray(b, b + a) : this.#engine.bytesOf(slot)!);
        return;
      case EngineEvent.endedEarly:
        if (this.#endPending(slot)) countEnd(ctx, this.#countSlot[slot], 'client_ended_before_connect');
        return;
      case EngineEvent.resetEarly:
        if (this.#endPending(slot)) countEnd(ctx, this.#countSlot[slot], 'client_closed_before_connect');
        return;
      case EngineEvent.timedOut:
        if (this.#endPending(slot)) {
          countEnd(ctx, this.#countSlot[slot], 'refused_connect_timeout');
          const remote = this.#proxiedText(slot) ?? (b >= 0 && c > 0 ? this.#data.toString('latin1', b, b + c) : undefined);
          ctx.faultLog.warn('refused_connect_timeout', { remote, bufferedBytes: a }, 'CONNECT not complete within the timeout');
        }
        return;
      case EngineEvent.brokerFailed:
        if (this.#phase[slot] === kPlacing) {
          this.#attempt[slot]!.failed(errnoName(a));
          this.#tryNextBroker(slot);
        }
        return;
      case EngineEvent.connected:
        if (this.#phase[slot] === kPlacing) this.#forward(slot);
        return;
      case EngineEvent.clientGone:
        if (this.#phase[slot] === kPlacing) {
          countEnd(ctx, this.#countSlot[slot], 'client_closed_while_placing');
          this.#free(slot);
          ctx.admission.release();
        }
        return;
      case EngineEvent.brokerFirst:
        if (this.#phase[slot] === kForwarding) {
          const tap = this.#tap[slot];
          brokerFirstBytes(ctx, this.#broker[slot], b >= 0 ? this.#data.subarray(b, b + a) : new Uint8Array(0), (tap & TapFlags.judge) !== 0, (tap & TapFlags.copy) !== 0);
        }
        return;
      case EngineEvent.ended:
        if (this.#phase[slot] === kForwarding) this.#ended(slot, a, b, c, d);
        return;
      case EngineEvent.acceptFailed:
        ctx.faultLog.warn('accept_failed', { why: errnoName(a) }, 'accept failed; the listener pauses 100 ms');
        return;
    }
  }

  #accepted(slot: number, listener: number): void {
    const ctx = this.#ctx;
    if (slot >= this.#phase.length) this.#grow(slot);
    this.#phase[slot] = kPending;
    this.#listener[slot] = listener;
    this.#countSlot[slot] = this.#listenerCountSlot[listener] ?? 0;
    this.#acceptedMs[slot] = Date.now();
    countAccepted(ctx, this.#countSlot[slot]);
    this.#skip[slot] = 0;
    this.#proxied[slot] = undefined;
    if (!ctx.admission.pendingStarted()) {
      // Over this worker's part of max_pending: the engine closes the client waiting longest.
      const [evicted, remote] = this.#engine.evictOldest();
      if (evicted >= 0 && this.#phase[evicted] === kPending) {
        countEnd(ctx, this.#countSlot[evicted], 'pending_evicted');
        ctx.faultLog.warn('pending_evicted', { remote: this.#proxiedText(evicted) ?? (remote || undefined) }, 'pending client evicted: limits.max_pending reached');
        this.#endPending(evicted);
      }
    }
  }

  /** The CONNECT phase of `slot` ended: true if it was pending (its count is given back). */
  #endPending(slot: number): boolean {
    if (this.#phase[slot] !== kPending) return false;
    this.#phase[slot] = kFree;
    this.#ctx.admission.pendingEnded();
    return true;
  }

  #judge(slot: number, all: Buffer): void {
    const ctx = this.#ctx;
    if (this.#acceptsProxy[this.#listener[slot]] && this.#skip[slot] === 0) {
      const h = readProxyHeader(all);
      if (h.kind === 'need-more') {
        this.#engine.want(slot, all.length + 1);
        return;
      }
      if (h.kind === 'invalid') {
        countEnd(ctx, this.#countSlot[slot], 'refused_bad_proxy_header');
        this.#endPending(slot);
        ctx.faultLog.warn('refused_bad_proxy_header', { remote: this.#remoteText(slot), why: h.reason }, 'bad PROXY header from the front balancer; closed');
        this.#engine.refuse(slot, undefined);
        return;
      }
      this.#skip[slot] = h.length;
      this.#engine.skipIn(slot, h.length);
      if (h.source && h.destination) this.#proxied[slot] = { source: h.source, destination: h.destination };
    }
    const skip = this.#skip[slot];
    const bytes = skip > 0 ? all.subarray(skip) : all;
    const r = readConnect(bytes, ctx.config.limits.maxConnectBytes);
    switch (r.kind) {
      case 'need-more':
        this.#engine.want(slot, skip + bytesWanted(bytes));
        return;
      case 'not-connect':
        if (looksLikeProxyHeader(bytes)) {
          return this.#refuseConnect(slot, r, 'refused_unexpected_proxy_header', 'a PROXY header on a listener without accept_proxy_protocol', {});
        }
        return this.#refuseConnect(slot, r, 'refused_not_connect', 'first packet is not CONNECT', { packetType: r.packetType });
      case 'complete':
        return this.#admit(slot, r.connect);
      case 'malformed':
        return this.#refuseConnect(slot, r, 'refused_malformed', 'malformed CONNECT', { why: r.reason });
      case 'unsupported-protocol':
        return this.#refuseConnect(slot, r, 'refused_unsupported_protocol', 'unsupported MQTT protocol level', { protocolName: r.protocolName, protocolLevel: r.protocolLevel });
      case 'too-large':
        return this.#refuseConnect(slot, r, 'refused_too_large', 'CONNECT larger than limits.max_connect_size',
          { packetBytes: r.packetBytes, maxConnectBytes: ctx.config.limits.maxConnectBytes });
    }
  }

  #refuseConnect(slot: number, r: ConnectRefusalVerdict, counter: ConnectionEnd, msg: string, fields: Record<string, unknown>): void {
    const { refusal, protocolLevel, protocolName } = refusalOf(r);
    this.#refuse(slot, refusal, protocolLevel, protocolName, counter, msg, fields);
  }

  /** Refuses `slot` (pending or placing): counted, logged, the CONNACK MQTT has for it, FIN, linger. */
  #refuse(slot: number, refusal: Refusal, level: number | undefined, protocolName: string | undefined,
    counter: ConnectionEnd, msg: string, fields: Record<string, unknown>): void {
    const ctx = this.#ctx;
    countEnd(ctx, this.#countSlot[slot], counter);
    const phase = this.#phase[slot];
    if (phase === kPending) this.#endPending(slot);
    else if (phase === kPlacing) {
      this.#free(slot);
      ctx.admission.release();
    }
    ctx.faultLog.warn(counter, { remote: this.#remoteText(slot), ...fields }, msg);
    this.#engine.refuse(slot, refusalConnack(refusal, level, protocolName));
  }

  #admit(slot: number, connect: ConnectInfo): void {
    const ctx = this.#ctx;
    this.#endPending(slot);
    const verdict = ctx.admission.admit(Date.now());
    if (verdict !== 'ok') {
      // Refused by a limit: the admission holds nothing for it, and its pending count is already back.
      const maxed = verdict === 'max-connections';
      countEnd(ctx, this.#countSlot[slot], maxed ? 'refused_max_connections' : 'refused_connect_rate');
      ctx.faultLog.warn(maxed ? 'refused_max_connections' : 'refused_connect_rate', { remote: this.#remoteText(slot), clientId: connect.clientId },
        maxed ? 'limits.max_connections reached' : 'limits.connect_rate exceeded');
      this.#engine.refuse(slot, refusalConnack(maxed ? 'quota-exceeded' : 'connection-rate-exceeded', connect.protocolLevel));
      return;
    }
    this.#phase[slot] = kPlacing;
    this.#level[slot] = connect.protocolLevel;
    this.#clientId[slot] = connect.clientId;
    this.#username[slot] = connect.username;
    this.#placingSlot = slot;
    const attempt = new PlacementAttempt(ctx, slot, connect, this.#remoteOfPlacing);
    this.#attempt[slot] = attempt;
    // Set before the broker is dialed, so the broker's first read cannot come before it.
    const tap = (attempt.judgesConnack ? TapFlags.judge : 0) | (wantsAssignedId(ctx, connect) ? TapFlags.copy : 0);
    this.#tap[slot] = tap;
    if (tap !== 0) this.#engine.tapBroker(slot, tap);
    const idleMs = idleLimitMs(ctx.config.limits.idle, connect.keepaliveSec);
    if (idleMs > 0) this.#engine.setIdle(slot, idleMs);
    this.#tryNextBroker(slot);
  }

  /** Connects `slot` to its next candidate; a failure at once moves on; none left: CONNACK 0x88 / 0x03. */
  #tryNextBroker(slot: number): void {
    const attempt = this.#attempt[slot]!;
    for (let broker = attempt.next(); broker >= 0; broker = attempt.next()) {
      if (!this.#dialable[broker]) {
        attempt.failed('ENOTFOUND');
        continue;
      }
      const failure = this.#engine.connect(slot, broker, this.#ctx.config.brokers[broker].proxyProtocol === 'v2' ? this.#proxyHeader(slot) : undefined);
      if (failure === undefined) return; // connected or brokerFailed follows
      attempt.failed(failure);
    }
    this.#refuse(slot, 'server-unavailable', this.#level[slot], undefined, 'refused_no_broker', 'no broker reachable', { clientId: this.#clientId[slot] });
  }

  /** The PROXY v2 header for `slot`'s broker: the client's address and the one it connected to. */
  #proxyHeader(slot: number): Buffer | undefined {
    const proxied = this.#proxied[slot];
    if (proxied) return proxyV2Header(proxied.source, proxied.destination); // passed on from the front balancer
    const [peer, local] = [this.#engine.remoteAddress(slot), this.#engine.localAddress(slot)];
    if (!peer || !local) return undefined; // the client is gone (its reset comes as an event)
    return proxyV2Header({ ip: peer[0], port: peer[1] }, { ip: local[0], port: local[1] });
  }

  #forward(slot: number): void {
    const ctx = this.#ctx;
    const attempt = this.#attempt[slot]!;
    attempt.placed();
    this.#attempt[slot] = undefined;
    this.#phase[slot] = kForwarding;
    this.#broker[slot] = attempt.broker;
    if (attempt.judgesConnack && ctx.brokerTable.connectFailStreak(attempt.broker) > 0) {
      // Its accepting CONNACK ends the broker's run of failures: JS must see it. (The engine started the
      // pair just before this event came; a CONNACK read in that instant goes unreported: the run then
      // ends at the next client's.)
      this.#tap[slot] |= TapFlags.reportAccept;
      this.#engine.tapBroker(slot, this.#tap[slot]);
    }
    this.#keyHi[slot] = attempt.key.hash.hi;
    this.#keyLo[slot] = attempt.key.hash.lo;
    this.#pinned[slot] = attempt.pinned ? 1 : 0;
    const now = Date.now();
    this.#sinceMs[slot] = now;
    this.#forwarding++;
    ctx.brokerTable.connectionOpened(attempt.broker);
    countForwarded(ctx, this.#countSlot[slot], now - this.#acceptedMs[slot]);
    if (ctx.log.isLevelEnabled('debug')) ctx.log.debug({ slot, clientId: this.#clientId[slot], broker: ctx.config.brokers[attempt.broker].name }, 'client placed');
  }

  #ended(slot: number, c2b: number, b2c: number, reason: number, errno: number): void {
    const ctx = this.#ctx;
    const broker = this.#broker[slot];
    countEnd(ctx, this.#countSlot[slot], 'connections_closed');
    if (spliceEndReasons[reason] === 'drained') ctx.counters.add(this.#moved[slot] === 1 ? 'connections_rebalanced' : 'connections_drained');
    if (spliceEndReasons[reason] === 'idle') {
      // The engine has closed the sockets: the client id names it (and a front balancer's address, if any).
      const front = this.#proxied[slot]?.source;
      idleClosed(ctx, this.#clientId[slot] ?? '', front ? `${front.ip}:${front.port}` : '');
    }
    this.#forwarding--;
    ctx.admission.release();
    ctx.brokerTable.connectionClosed(broker);
    // A client that leaves keeps its pin for a full TTL from now, not from when it first connected.
    if (this.#pinned[slot] === 1) ctx.selector.released?.({ text: '', hash: keyHashOf(this.#keyHi[slot], this.#keyLo[slot]) }, broker);
    if (ctx.log.isLevelEnabled('debug')) ctx.log.debug({ slot, clientId: this.#clientId[slot], c2b, b2c, reason, errno: errno ? errnoName(errno) : undefined }, 'connection ended');
    this.#free(slot);
  }

  #free(slot: number): void {
    this.#phase[slot] = kFree;
    this.#moved[slot] = 0;
    this.#proxied[slot] = undefined;
    this.#clientId[slot] = undefined;
    this.#username[slot] = undefined;
    this.#attempt[slot] = undefined;
  }

  /** A Sluice bug while handling an event of `slot`: refuse that one client (0x80 / 0x03), log, count. */
  #internalError(slot: number, err: unknown): void {
    const ctx = this.#ctx;
    const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    ctx.faultLog.error('internal_error', { slot, err: text }, 'internal error placing a client; refused');
    try {
      const phase = this.#phase[slot];
      if (phase === kPending || phase === kPlacing) {
        this.#refuse(slot, 'internal-error', phase === kPlacing ? this.#level[slot] : undefined, undefined, 'refused_internal_error', 'client refused after an internal error', {});
      }
    } catch (again) {
      ctx.faultLog.error('internal_error', { slot, err: String(again) }, 'internal error refusing a client');
    }
  }

  #grow(slot: number): void {
    let n = this.#phase.length;
    while (n <= slot) n *= 2;
    const grow = <T extends Uint8Array | Int16Array | Uint16Array | Uint32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.#phase = grow(this.#phase, (k) => new Uint8Array(k));
    this.#level = grow(this.#level, (k) => new Uint8Array(k));
    this.#broker = grow(this.#broker, (k) => new Int16Array(k));
    this.#keyHi = grow(this.#keyHi, (k) => new Uint32Array(k));
    this.#keyLo = grow(this.#keyLo, (k) => new Uint32Array(k));
    this.#pinned = grow(this.#pinned, (k) => new Uint8Array(k));
    this.#tap = grow(this.#tap, (k) => new Uint8Array(k));
    this.#countSlot = grow(this.#countSlot, (k) => new Uint8Array(k));
    this.#acceptedMs = grow(this.#acceptedMs, (k) => new Float64Array(k));
    this.#moved = grow(this.#moved, (k) => new Uint8Array(k));
    this.#listener = grow(this.#listener, (k) => new Uint8Array(k));
    this.#skip = grow(this.#skip, (k) => new Uint16Array(k));
    this.#sinceMs = grow(this.#sinceMs, (k) => new Float64Array(k));
  }
}
