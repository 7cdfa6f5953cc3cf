// Answers written on the raw socket, where Node gives no response object: requests its HTTP parser
// refused (400, 431, 413), requests that did not arrive in time (408), and CONNECT (405).
import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { CounterSink } from '../metrics/counters.ts';
import type { RateLimitedLog } from '../log.ts';

const reasons: Record<number, string> = {
  400: 'Bad Request', 405: 'Method Not Allowed', 408: 'Request Timeout',
  413: 'Content Too Large', 431: 'Request Header Fields Too Large',
};

/** The status for a `clientError` code: Node's own mapping, made explicit. */
export function clientErrorStatus(code: string | undefined): 400 | 408 | 413 | 431 {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW': return 431;
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW': return 413;
    case 'ERR_HTTP_REQUEST_TIMEOUT': return 408;
    default: return 400;
  }
}

function rawResponse(status: number, body: unknown, headers: Record<string, string> = {}): string {
  const text = JSON.stringify(body) + '\n';
  const lines = Object.entries({ 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)), Connection: 'close', ...headers });
  return `HTTP/1.1 ${status} ${reasons[status]}\r\n${lines.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${text}`;
}

/**
 * The server's `clientError` listener: counts the refusal, logs its code (never `err.rawPacket`, which
 * holds the request's bytes, headers included), answers when nothing of a response of ours is on the
 * wire yet, and destroys the socket (which also stops the parser from reporting the same bytes again).
 */
export function onClientError(counters: CounterSink, faults: RateLimitedLog) {
  return (err: NodeJS.ErrnoException, socket: Duplex): void => {
    // The peer reset or left: nobody to answer, and nothing it did wrong.
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE') { socket.destroy(); return; }
    const status = clientErrorStatus(err.code);
    counters.add(status === 408 ? 'admin_timeouts' : 'admin_client_errors');
    faults.warn(`admin_http_${status}`, { status, code: err.code }, 'admin: HTTP request refused');
    // Node's own check (lib/_http_server.js socketOnError): bytes written into a response whose head is
    // already out would corrupt it for the client.
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent: boolean } | null })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) {
      const error = status === 408 ? 'request timeout' : status === 431 ? 'request headers too large' : status === 413 ? 'chunk extensions too large' : 'bad request';
      socket.write(rawResponse(status, { error, code: err.code }));
    }
    socket.destroy();
  };
}

/** The server's `connect` listener: CONNECT asks for a tunnel, which the admin API never gives. */
export function onConnectMethod(count: (status: number) => void) {
  return (_req: IncomingMessage, socket: Duplex): void => {
    // Node has taken its own error listener off this socket: without one, an error would be thrown.
    socket.on('error', () => {});
    count(405);
    socket.write(rawResponse(405, { error: 'method not allowed', allow: ['GET', 'HEAD'] }, { Allow: 'GET, HEAD' }));
    socket.destroy();
  };
}
