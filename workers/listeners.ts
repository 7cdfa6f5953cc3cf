// A worker's listeners: opened at start and changed by a reload. The primary sends the whole list each
// time, each listener with its count slot (src/primary/listener-slots.ts: the same slot means the same
// settings); a listener in both the old and the new list is left alone, so its accept queue
// and its clients are untouched; a new one is opened before a gone one is closed, so a listener whose
// settings changed (same address) has no moment without one. Every listener binds with SO_REUSEPORT:
// plain TCP in the native engine (Linux), TLS, WebSocket and the JS data path in Node servers.
import { createServer, type Server } from 'node:net';
import { Server as TlsServer } from 'node:tls';
import type { ListenerConfig } from '../src/config/resolved.ts';
import type { TlsMaterial } from '../src/tls/material.ts';
import { acceptClient } from './client-connection.ts';
import { createTlsListener, ServedCertificates } from './tls-source.ts';
import { createWsListener } from './ws-source.ts';
import { createProxyFront } from './proxy-front.ts';
import type { NativeSource } from './native-source.ts';
import type { WorkerContext } from './worker-context.ts';

type Open = {
  /** Its count slot: what makes it the same listener from one list to the next. */
  slot: number;
  close(): void;
  /** A TLS listener's server and what it serves (replaced by a certificate reload). */
  tls?: { server: TlsServer; certs: ServedCertificates };
};

export type ListenFailure = { address: string; error: string };

export class WorkerListeners {
  readonly #ctx: WorkerContext;
  readonly #native: NativeSource | undefined;
  readonly #ticketKeys: () => Buffer;
  /** Open listeners, in the order of the list they were last applied from. */
  #open: Open[] = [];
  /** Applies run one at a time (a reload's list, then maybe its rollback, can arrive back to back). */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(ctx: WorkerContext, native: NativeSource | undefined, ticketKeys: () => Buffer) {
    this.#ctx = ctx;
    this.#native = native;
    this.#ticketKeys = ticketKeys;
  }

  /**
   * Makes `listeners` (with `tls`, per listener) what this worker listens on. All or nothing: if a new
   * one cannot listen, the ones this call opened are closed again, nothing is closed, and the failure is
   * returned. Addresses listened on come back otherwise.
   */
  apply(listeners: readonly ListenerConfig[], tls: readonly (TlsMaterial | undefined)[], slots: readonly number[]): Promise<{ addresses: string[] } | { failed: ListenFailure }> {
    const run = this.#queue.then(() => this.#applyNow(listeners, tls, slots));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #applyNow(listeners: readonly ListenerConfig[], tls: readonly (TlsMaterial | undefined)[], slots: readonly number[]): Promise<{ addresses: string[] } | { failed: ListenFailure }> {
    const bySlot = new Map(this.#open.map((o) => [o.slot, o]));
    const next: Open[] = [];
    const opened: Open[] = [];
    for (const [i, l] of listeners.entries()) {
      const kept = bySlot.get(slots[i]);
      if (kept) {
        bySlot.delete(slots[i]);
        next.push(kept);
        continue;
      }
      const result = await this.#listen(l, tls[i], slots[i]);
      if ('failed' in result) {
        for (const o of opened) o.close();
        return result;
      }
      opened.push(result);
      next.push(result);
    }
    for (const gone of bySlot.values()) gone.close();
    this.#open = next;
    return { addresses: listeners.map((l) => l.bind.address) };
  }

  /** Reloaded certificates, per listener of the list last applied: new handshakes get them. */
  replaceCertificates(material: readonly (TlsMaterial | undefined)[]): void {
    this.#open.forEach((o, i) => {
      const next = material[i];
      if (!o.tls || !next) return;
      try {
        o.tls.certs.replace(o.tls.server, next);
      } catch (err) {
        this.#ctx.log.error({ err: (err as Error).message }, 'TLS reload: this worker keeps its certificates');
      }
    });
  }

  /** Rotated session ticket keys, for every TLS listener. */
  setTicketKeys(keys: Buffer): void {
    for (const o of this.#open) o.tls?.server.setTicketKeys(keys);
  }

  closeAll(): void {
    for (const o of this.#open) o.close();
    this.#open = [];
  }

  async #listen(l: ListenerConfig, material: TlsMaterial | undefined, slot: number): Promise<Open | { failed: ListenFailure }> {
    const ctx = this.#ctx;
    const native = this.#native;
    if (native && l.protocol === 'mqtt') {
      // The engine listens with SO_REUSEPORT on the IP the primary resolved (undefined: every address).
      const index = native.listen(l.bind.host, l.bind.port, l.acceptProxyProtocol, slot);
      if (typeof index === 'string') return { failed: { address: l.bind.address, error: `listen ${index} ${l.bind.address}` } };
      return { slot, close: () => native.closeListener(index) };
    }
    const certs = material ? new ServedCertificates(material) : undefined;
    // allowHalfOpen: a client's FIN is passed on to the broker, not turned into a close of both directions.
    const server = l.protocol === 'mqtts' ? createTlsListener(certs!, l, ctx, slot)
      : l.protocol === 'ws' || l.protocol === 'wss' ? createWsListener(l, certs, ctx, slot)
      : createServer({ allowHalfOpen: true, noDelay: true }, (socket) => acceptClient(socket, ctx, { listener: slot, acceptProxy: l.acceptProxyProtocol }));
    // Every worker the same keys: a client resumes its session whichever worker takes its reconnect.
    const tls = server instanceof TlsServer && certs ? { server, certs } : undefined;
    tls?.server.setTicketKeys(this.#ticketKeys());
    // A front balancer's PROXY header before TLS or HTTP: a plain server reads it and hands the socket on
    // (a plain mqtt listener reads it in the CONNECT phase instead).
    const listening: Server = l.acceptProxyProtocol && l.protocol !== 'mqtt'
      ? createProxyFront(server, l.tls?.handshakeTimeoutMs ?? ctx.config.limits.connectTimeoutMs, ctx, slot)
      : server;
    listening.on('error', (err) => ctx.log.error({ err }, 'listener error'));
    try {
      await new Promise<void>((resolve, reject) => {
        listening.once('error', reject);
        // reusePort: every worker binds the same address and the kernel spreads new connections.
        // host is an IP (the primary resolved names), or undefined for ":port": "::" dual stack, 0.0.0.0 without IPv6.
        listening.listen({ host: l.bind.host, port: l.bind.port, reusePort: true, backlog: 4096 }, () => {
          listening.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      return { failed: { address: l.bind.address, error: (err as Error).message } };
    }
    // close(): no new clients; the ones it accepted go on.
    return { slot, tls, close: () => listening.close() };
  }
}
