// The PROXY header in front of a TLS handshake or an HTTP upgrade (accept_proxy_protocol on mqtts, ws
// and wss listeners): a plain TCP server reads the header a front L4 balancer sends first, then hands the
// socket, header removed, to the TLS or HTTP server as if that had accepted it. What the header said
// waits for the client beside its socket. A bad header, or none within the timeout, is closed, counted
// (`front_bad_proxy_header`: before the client reaches MQTT, like a failed TLS handshake) and logged.
import { createServer, type Server, type Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';
import { readProxyHeader } from '../src/proxy/header-reader.ts';
import type { Endpoint } from '../src/proxy/v2-header.ts';
import type { WorkerContext } from './worker-context.ts';
import { guardSetup } from './setup-guard.ts';
import { countHandshakeRefusal } from './connection-count.ts';

/** A client behind a front balancer: its address, and the one it connected to, from the PROXY header. */
export type Proxied = { source: Endpoint; destination: Endpoint };

const proxied = new WeakMap<Socket, Proxied>();

/** What the PROXY header of the TCP socket `raw` said (undefined: none, or LOCAL / no TCP addresses). */
export function proxiedOf(raw: Socket | undefined): Proxied | undefined {
  return raw ? proxied.get(raw) : undefined;
}

/** `slot`: the listener's count slot. */
export function createProxyFront(inner: Server, timeoutMs: number, ctx: WorkerContext, slot: number): Server {
  return createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    let bytes: Buffer = Buffer.alloc(0);
    const refuse = (why: string) => {
      countHandshakeRefusal(ctx, slot, 'front_bad_proxy_header');
      ctx.faultLog.warn('front_bad_proxy_header', { remote: `${socket.remoteAddress}:${socket.remotePort}`, why }, 'bad PROXY header from the front balancer; closed');
      socket.destroy();
    };
    const onData = guardSetup(ctx, 'proxy-front', (_chunk: Buffer) => socket, (chunk: Buffer) => {
      bytes = bytes.length === 0 ? chunk : Buffer.concat([bytes, chunk]);
      const h = readProxyHeader(bytes);
      if (h.kind === 'need-more') return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      if (h.kind === 'invalid') return refuse(h.reason);
      if (h.source && h.destination) proxied.set(socket, { source: h.source, destination: h.destination });
      const rest = bytes.subarray(h.length);
      if (rest.length > 0) socket.unshift(rest);
      inner.emit('connection', socket);
      // A TLS server (mqtts, wss) wraps the socket and reads it itself (what was unshifted included); a
      // plain HTTP server (ws) reads the socket as it flows, so it must flow again.
      if (!(inner instanceof TlsServer) && !socket.destroyed) socket.resume();
    });
    const timer = setTimeout(() => {
      socket.off('data', onData);
      refuse('no complete PROXY header within the timeout');
    }, timeoutMs);
    socket.on('data', onData);
    socket.once('close', () => clearTimeout(timer));
    socket.on('error', () => {}); // a reset before the header: 'close' follows
  });
}
