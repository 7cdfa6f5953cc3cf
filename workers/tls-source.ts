// A TLS listener (protocol mqtts): Node's TLS server terminates TLS, then each client goes through the
// same CONNECT reader, limits and placement as every other source (client-connection.ts), and its bytes
// move on the JS pipe. Handshakes that fail or stall and client certificates that are refused each end
// with a counter and a rate-limited log line; key material never appears in either.
import { createSecureContext, createServer, type Server, type TLSSocket } from 'node:tls';
import type { TlsMaterial } from '../src/tls/material.ts';
import type { ListenerConfig } from '../src/config/resolved.ts';
import { pickCertificate } from '../src/tls/sni.ts';
import { acceptClient } from './client-connection.ts';
import type { WorkerContext } from './worker-context.ts';

export function createTlsListener(m: TlsMaterial, l: ListenerConfig, ctx: WorkerContext): Server {
  const requestCert = m.clientAuth !== 'none';
  // The certificate's CN is read only where something uses it: the client id check or a cert-cn route key.
  const mustMatchCn = l.clientIdMustMatch === 'cert-cn';
  const wantsCn = requestCert && (mustMatchCn || ctx.config.balance.key.includes('cert-cn'));
  // One context per certificate, each with the client CA: after an SNI switch the new context verifies.
  const contexts = m.pairs.map((p) => createSecureContext({ cert: p.certPem, key: p.keyPem, ca: m.caPem, minVersion: m.minVersion }));
  const server = createServer({
    cert: m.pairs[0].certPem,
    key: m.pairs[0].keyPem,
    ca: m.caPem,
    minVersion: m.minVersion,
    requestCert,
    // Checked after the handshake instead (below), so every refused certificate is counted and logged:
    // with rejectUnauthorized Node drops such a client silently.
    rejectUnauthorized: false,
    ALPNProtocols: m.alpn,
    handshakeTimeout: m.handshakeTimeoutMs,
    SNICallback: m.pairs.length > 1 ? (name, cb) => cb(null, contexts[pickCertificate(m.pairs, name)]) : undefined,
    // As for plain TCP: a client's FIN (after close_notify) goes on to the broker as a half-close.
    allowHalfOpen: true,
    noDelay: true,
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    ctx.counters.add('tls_handshakes');
    if (requestCert && !socket.authorized) {
      // optional: a client may come without a certificate, but one it presents must be valid.
      const presented = Object.keys(socket.getPeerCertificate()).length > 0;
      if (presented || m.clientAuth === 'required') {
        ctx.counters.add('tls_client_cert_rejected');
        ctx.faultLog.warn('tls_client_cert_rejected', {
          remote: `${socket.remoteAddress}:${socket.remotePort}`,
          why: presented ? String(socket.authorizationError) : 'no client certificate',
        }, 'client certificate refused; connection closed');
        socket.destroy();
        return;
      }
    }
    if (!wantsCn) return acceptClient(socket, ctx);
    const cn = socket.authorized ? socket.getPeerCertificate().subject?.CN : undefined;
    // Several CNs in one subject name no single identity: treated as none.
    acceptClient(socket, ctx, { certCn: typeof cn === 'string' ? cn : undefined, mustMatchCn });
  });
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    // The error names the failure (a wrong version, plain MQTT on a TLS port, no shared cipher); it never
    // carries key material. Node leaves the socket open after a handshake timeout: closed here, always.
    socket.destroy();
    const counter = err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'tls_handshake_timeout' : 'tls_handshake_failed';
    ctx.counters.add(counter);
    ctx.faultLog.warn(counter, { remote: `${socket.remoteAddress}:${socket.remotePort}`, why: err.code ?? err.message },
      counter === 'tls_handshake_timeout' ? 'TLS handshake not complete within tls.handshake_timeout' : 'TLS handshake failed');
  });
  return server;
}
