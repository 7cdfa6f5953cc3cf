// TLS in front of MQTT (protocol mqtts) and of MQTT over WebSocket (wss): Node's TLS server terminates
// TLS, then each client goes through the same CONNECT reader, limits and placement as every other source
// (client-connection.ts), and its bytes move on the JS pipe. Handshakes that fail or stall and client
// certificates that are refused each end with a counter and a rate-limited log line; key material never
// appears in either.
import { createSecureContext, createServer, type SecureContext, type Server, type TlsOptions, type TLSSocket } from 'node:tls';
import type { TlsMaterial } from '../src/tls/material.ts';
import type { ListenerConfig, ResolvedConfig } from '../src/config/resolved.ts';
import { pickCertificate } from '../src/tls/sni.ts';
import type { Socket } from 'node:net';
import { acceptClient, type ClientIdentity } from './client-connection.ts';
import { proxiedOf } from './proxy-front.ts';
import { guardSetup, kThrowingSetupName, setupTestHooks } from './setup-guard.ts';
import type { WorkerContext } from './worker-context.ts';
import { countHandshakeRefusal } from './connection-count.ts';

/** SLUICE_TEST_HOOKS=1 only: the SNI name kThrowingSetupName makes the setup throw (a stand-in for a bug). */
export function throwIfAsked(socket: TLSSocket): void {
  if (setupTestHooks && (socket as TLSSocket & { servername?: string }).servername === kThrowingSetupName) throw new Error('TLS setup failure requested by a test hook');
}

/** The TCP socket under a TLS socket (its PROXY header, if the listener reads one, is kept there). */
export function rawOf(socket: TLSSocket): Socket | undefined {
  return (socket as TLSSocket & { _parent?: Socket })._parent ?? undefined;
}

/**
 * The certificates a TLS listener serves, replaceable while it runs (a reload): the server's default
 * context, and one context per certificate for SNI. Each has the client CA: after an SNI switch the
 * new context verifies. Connections already up keep the context they started with.
 */
export class ServedCertificates {
  #m: TlsMaterial;
  #contexts: SecureContext[];

  constructor(m: TlsMaterial) {
    this.#m = m;
    this.#contexts = this.#build(m);
  }

  get material(): TlsMaterial {
    return this.#m;
  }

  /** New certificates (and CA) for new handshakes; the listener's other settings stay as they were. */
  replace(server: Server, m: TlsMaterial): void {
    this.#contexts = this.#build(m);
    this.#m = { ...this.#m, pairs: m.pairs, caPem: m.caPem };
    server.setSecureContext(this.#contextOptions(this.#m));
  }

  /** Options for a TLS (or HTTPS) server that serves these certificates. */
  serverOptions(): TlsOptions {
    const m = this.#m;
    return {
      ...this.#contextOptions(m),
      requestCert: m.clientAuth !== 'none',
      // Checked after the handshake instead (checkClient), so every refused certificate is counted and
      // logged: with rejectUnauthorized Node drops such a client silently.
      rejectUnauthorized: false,
      ALPNProtocols: m.alpn,
      handshakeTimeout: m.handshakeTimeoutMs,
      SNICallback: (name, cb) => cb(null, this.#contexts.length > 1 ? this.#contexts[pickCertificate(this.#m.pairs, name)] : undefined),
    };
  }

  #contextOptions(m: TlsMaterial) {
    return { cert: m.pairs[0].certPem, key: m.pairs[0].keyPem, ca: m.caPem, minVersion: m.minVersion };
  }

  #build(m: TlsMaterial): SecureContext[] {
    return m.pairs.map((p) => createSecureContext({ cert: p.certPem, key: p.keyPem, ca: m.caPem, minVersion: m.minVersion }));
  }
}

/** Counts every handshake on `server` that fails or stalls, and closes it (Node leaves a timed-out one open). */
export function watchTlsFailures(server: Server, ctx: WorkerContext, slot: number): void {
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    // The error names the failure (a wrong version, plain MQTT on a TLS port, no shared cipher); it never
    // carries key material.
    socket.destroy();
    const counter = err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'tls_handshake_timeout' : 'tls_handshake_failed';
    countHandshakeRefusal(ctx, slot, counter);
    ctx.faultLog.warn(counter, { remote: `${socket.remoteAddress}:${socket.remotePort}`, why: err.code ?? err.message },
      counter === 'tls_handshake_timeout' ? 'TLS handshake not complete within tls.handshake_timeout' : 'TLS handshake failed');
  });
}

/** What checkClient reads of each client of one listener. */
export type ClientCheck = { readonly mustMatchCn: boolean; readonly wantsIdentity: boolean };

/**
 * Whether the worker's settings use a TLS client's identity: a cert-cn route key, or a broker that gets
 * a PROXY v2 header (the TLS facts). Kept in ctx.identityWanted, again after every broker-set change.
 */
export function identityWantedBy(config: Pick<ResolvedConfig, 'balance' | 'brokers'>): boolean {
  return config.balance.key.includes('cert-cn') || config.brokers.some((b) => b.proxyProtocol === 'v2');
}

export function clientCheckFor(l: ListenerConfig, ctx: WorkerContext): ClientCheck {
  const mustMatchCn = l.clientIdMustMatch === 'cert-cn';
  // The identity is read only where something uses it: the client id check, or the worker's settings.
  return { mustMatchCn, get wantsIdentity() { return mustMatchCn || ctx.identityWanted; } };
}

/**
 * Right after a handshake: the client's identity for placement (undefined when nothing uses it), or
 * false when its certificate is refused (the socket is destroyed, counted and logged).
 */
export function checkClient(socket: TLSSocket, m: TlsMaterial, check: ClientCheck, ctx: WorkerContext, slot: number): ClientIdentity | undefined | false {
  ctx.counters.add('tls_handshakes');
  const cert = m.clientAuth !== 'none' && (!socket.authorized || check.wantsIdentity) ? socket.getPeerCertificate() : undefined;
  const presented = cert !== undefined && Object.keys(cert).length > 0;
  // optional: a client may come without a certificate, but one it presents must be valid.
  if (m.clientAuth !== 'none' && !socket.authorized && (presented || m.clientAuth === 'required')) {
    countHandshakeRefusal(ctx, slot, 'tls_client_cert_rejected');
    ctx.faultLog.warn('tls_client_cert_rejected', {
      remote: `${socket.remoteAddress}:${socket.remotePort}`,
      why: presented ? String(socket.authorizationError) : 'no client certificate',
    }, 'client certificate refused; connection closed');
    socket.destroy();
    return false;
  }
  if (!check.wantsIdentity) return undefined;
  const subjectCn = socket.authorized ? cert?.subject?.CN : undefined;
  // Several CNs in one subject name no single identity: treated as none.
  const certCn = typeof subjectCn === 'string' ? subjectCn : undefined;
  const servername = (socket as TLSSocket & { servername?: string | false }).servername;
  return {
    certCn,
    mustMatchCn: check.mustMatchCn,
    tls: {
      version: socket.getProtocol() ?? undefined,
      serverName: servername || undefined,
      alpn: socket.alpnProtocol || undefined,
      certVerified: socket.authorized,
      certPresented: presented,
      certCn,
    },
  };
}

/** A listener with protocol mqtts; `slot`: its count slot. */
export function createTlsListener(certs: ServedCertificates, l: ListenerConfig, ctx: WorkerContext, slot: number): Server {
  // allowHalfOpen, as for plain TCP: a client's FIN (after close_notify) goes on to the broker as a half-close.
  const server = createServer({ ...certs.serverOptions(), allowHalfOpen: true, noDelay: true });
  watchTlsFailures(server, ctx, slot);
  const check = clientCheckFor(l, ctx);
  server.on('secureConnection', guardSetup(ctx, 'tls', (socket: TLSSocket) => socket, (socket: TLSSocket) => {
    throwIfAsked(socket);
    const identity = checkClient(socket, certs.material, check, ctx, slot);
    if (identity !== false) acceptClient(socket, ctx, { listener: slot, identity, proxied: proxiedOf(rawOf(socket)) });
  }));
  return server;
}
