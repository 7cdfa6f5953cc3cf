// A WebSocket listener (protocol ws, or wss with TLS): an HTTP server whose upgrades to the configured
// path become MQTT byte streams (websocket-stream.ts) fed to the same CONNECT reader, limits and
// placement as every other source (client-connection.ts). The `ws` package does the WebSocket
// protocol (framing, masking, pings answered, close handshake). Everything that is not an MQTT
// WebSocket gets an HTTP answer or a close code, a counter and a rate-limited log line.
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import type { ListenerConfig } from '../src/config/resolved.ts';
import type { HandshakeRefusal } from '../src/metrics/connection-stats.ts';
import { countHandshakeRefusal } from './connection-count.ts';
import { acceptClient, type ClientIdentity } from './client-connection.ts';
import { checkClient, clientCheckFor, rawOf, throwIfAsked, watchTlsFailures, type ServedCertificates } from './tls-source.ts';
import { guardSetup, kThrowingSetupName, setupTestHooks } from './setup-guard.ts';
import { proxiedOf } from './proxy-front.ts';
import { WebSocketStream } from './websocket-stream.ts';
import type { WorkerContext } from './worker-context.ts';

/** The subprotocols MQTT over WebSocket names: "mqtt" (3.1.1 and 5.0), "mqttv3.1" (3.1). */
const kSubprotocols: ReadonlySet<string> = new Set(['mqtt', 'mqttv3.1']);
/** What a wss client's handshake said about it, until its upgrade asks. */
const kIdentity = Symbol('sluice.tlsIdentity');
type IdentifiedSocket = TLSSocket & { [kIdentity]?: ClientIdentity };

/** A listener with protocol ws (certs undefined) or wss; `slot`: its count slot. */
export function createWsListener(l: ListenerConfig, certs: ServedCertificates | undefined, ctx: WorkerContext, slot: number): Server {
  const { path, maxFrameBytes } = l.ws!;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: maxFrameBytes,
    perMessageDeflate: false, // MQTT payloads are the client's business; compression costs CPU per message
    clientTracking: false,
    // The first MQTT subprotocol the client offers; a client that offers none is served too (as
    // Mosquitto and EMQX do); one that offers only others was refused before this (on 'upgrade').
    handleProtocols: (offered) => [...offered].find((p) => kSubprotocols.has(p)) ?? false,
  });
  const refuse = (counter: HandshakeRefusal, socket: Duplex, status: number, why: string, fields: Record<string, unknown>) => {
    countHandshakeRefusal(ctx, slot, counter);
    ctx.faultLog.warn(counter, { remote: remoteOf(socket), ...fields }, why);
    rejectUpgrade(socket, status, why);
  };
  // A handshake ws itself refuses (a bad Sec-WebSocket-Key or version, a malformed header).
  wss.on('wsClientError', (err: Error, socket: Duplex) => refuse('ws_not_upgrade', socket, 400, 'not a valid WebSocket upgrade', { why: err.message }));

  const httpOptions = { headersTimeout: ctx.config.limits.connectTimeoutMs, requestTimeout: ctx.config.limits.connectTimeoutMs, noDelay: true };
  let server: Server;
  if (certs) {
    const https = createHttpsServer({ ...certs.serverOptions(), ...httpOptions });
    watchTlsFailures(https, ctx, slot);
    const check = clientCheckFor(l, ctx);
    https.on('secureConnection', guardSetup(ctx, 'tls', (socket: IdentifiedSocket) => socket, (socket: IdentifiedSocket) => {
      throwIfAsked(socket);
      const identity = checkClient(socket, certs.material, check, ctx, slot);
      if (identity !== false) socket[kIdentity] = identity;
    }));
    server = https;
  } else {
    server = createHttpServer(httpOptions);
  }
  server.on('request', (req: IncomingMessage, res) => {
    // Plain HTTP (no upgrade): say what this port speaks.
    countHandshakeRefusal(ctx, slot, 'ws_not_upgrade');
    ctx.faultLog.warn('ws_not_upgrade', { remote: remoteOf(req.socket), method: req.method }, 'HTTP request without a WebSocket upgrade');
    res.writeHead(426, { Upgrade: 'websocket', Connection: 'close', 'Content-Type': 'text/plain' });
    res.end(`MQTT over WebSocket: upgrade on ${path} with subprotocol mqtt\n`);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return socket.destroy();
    const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    refuse('ws_not_upgrade', socket, status, 'malformed or incomplete HTTP request', { why: err.code ?? err.message });
  });
  server.on('upgrade', guardSetup(ctx, 'websocket', (_req: IncomingMessage, socket: Duplex, _head: Buffer) => socket, (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const requestPath = (req.url ?? '').split('?')[0];
    if (setupTestHooks && requestPath === `/${kThrowingSetupName}`) throw new Error('WebSocket setup failure requested by a test hook');
    if (requestPath !== path) return refuse('ws_wrong_path', socket, 404, 'WebSocket upgrade on a path that serves nothing', { path: requestPath.slice(0, 200) });
    const offered = req.headers['sec-websocket-protocol'];
    if (offered !== undefined && !offered.split(',').some((p) => kSubprotocols.has(p.trim()))) {
      return refuse('ws_bad_subprotocol', socket, 400, 'WebSocket subprotocol is not mqtt', { offered: offered.slice(0, 200) });
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ctx.counters.add('ws_upgrades');
      const raw = req.socket as Socket;
      const stream = new WebSocketStream(ws, raw,
        () => {
          ctx.counters.add('ws_text_frame');
          ctx.faultLog.warn('ws_text_frame', { remote: remoteOf(raw) }, 'WebSocket text message: MQTT needs binary; closed (1003)');
        },
        (err: Error & { code?: string }) => {
          if (err.code !== 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return;
          ctx.counters.add('ws_frame_too_large');
          ctx.faultLog.warn('ws_frame_too_large', { remote: remoteOf(raw), maxFrameBytes }, 'WebSocket message larger than max_frame_size; closed (1009)');
        });
      // The PROXY header a front balancer sent is on the TCP socket: under the TLS one for wss.
      const tcp = certs ? rawOf(raw as TLSSocket) : raw;
      acceptClient(stream as unknown as Socket, ctx, { listener: slot, identity: (raw as IdentifiedSocket)[kIdentity], proxied: proxiedOf(tcp) });
    });
  }));
  return server;
}

function remoteOf(socket: Duplex): string {
  const s = socket as Socket;
  return `${s.remoteAddress}:${s.remotePort}`;
}

/** An HTTP answer on a connection that will not be a WebSocket, then close. */
function rejectUpgrade(socket: Duplex, status: number, message: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${message}\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${httpStatusText[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

const httpStatusText: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 408: 'Request Timeout' };
