// Admin HTTP endpoint (primary thread): /healthz, and JSON views of brokers, clients and counters.
// Every request gets an answer and a counter; nothing a request does can throw out of this file.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { RateLimitedLog } from '../log.ts';
import { adminHttpLimits as limits } from './http-limits.ts';
import { createRouter, type AdminDeps, type AdminReply, type AdminRouter } from './router.ts';
import { discardBody } from './request-body.ts';
import { onClientError, onConnectMethod } from './raw-answers.ts';
import { parseTarget } from './target.ts';

export type { AdminDeps } from './router.ts';

export async function startAdmin(deps: AdminDeps): Promise<Server> {
  const bind = deps.config.admin!.bind;
  const router = createRouter(deps, { testHooks: process.env.SLUICE_TEST_HOOKS === '1' });
  const faults = new RateLimitedLog(deps.log);
  const count = (status: number) => countAnswer(deps, status);
  const handle = (req: IncomingMessage, res: ServerResponse) => void onRequest(req, res, router, deps);

  const server = createServer({
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: limits.connectionsCheckingIntervalMs,
    // The handler answers a missing Host itself, so that refusal is counted like the others.
    requireHostHeader: false,
  }, handle);
  server.maxConnections = limits.maxConnections;
  server.setTimeout(limits.socketIdleTimeoutMs);
  server.on('clientError', onClientError(deps.counters, faults));
  server.on('connect', onConnectMethod(count));
  // Expect: 100-continue: say "continue" only to a body the handler will read; a too-large one gets 413.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (Number(req.headers['content-length'] ?? 0) <= limits.maxBodyBytes) res.writeContinue();
    handle(req, res);
  });
  server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) =>
    answer(res, { status: 417, body: { error: 'expectation not supported' }, close: true }, deps));
  server.on('drop', () => deps.counters.add('admin_connections_refused'));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(bind.port, bind.host, () => { server.off('error', reject); resolve(); });
  });
  // After listening, an accept can still fail (EMFILE when the process is out of descriptors): log it;
  // an 'error' with no listener would end the process.
  server.on('error', (err: NodeJS.ErrnoException) => faults.warn('admin_server_error', { code: err.code, err: err.message }, 'admin: server error'));
  deps.log.info({ address: bind.address }, 'admin listening');
  return server;
}

async function onRequest(req: IncomingMessage, res: ServerResponse, router: AdminRouter, deps: AdminDeps): Promise<void> {
  try {
    if (req.httpVersion === '1.1' && req.headers.host === undefined) {
      // RFC 9112 §3.2: a server must answer 400 to an HTTP/1.1 request without Host.
      return answer(res, { status: 400, body: { error: 'missing Host header (required by HTTP/1.1)' }, close: true }, deps);
    }
    const body = await discardBody(req, limits.maxBodyBytes);
    if (body === 'aborted') return; // the client went away (or timed out and got its 408): nobody to answer
    if (body === 'too-large') {
      return answer(res, { status: 413, body: { error: 'request body too large', limitBytes: limits.maxBodyBytes }, close: true }, deps);
    }
    answer(res, await router(req.method ?? '', req.url ?? '', req.headers.authorization), deps);
  } catch (err) {
    // The router never throws; this is the net under everything else (writing, counting).
    try {
      const e = err instanceof Error ? err : new Error(String(err));
      deps.log.error({ method: req.method, path: parseTarget(req.url ?? '')?.pathname, err: e.message, stack: e.stack }, 'admin request failed');
      if (res.headersSent) { deps.counters.add('admin_errors'); res.destroy(); } else answer(res, { status: 500, body: { error: 'internal error' }, close: true }, deps);
    } catch {
      res.destroy();
    }
  }
}

/** Writes `reply` as JSON, or its text (HEAD: the head only) and counts it; does nothing once the client is gone. */
function answer(res: ServerResponse, reply: AdminReply, deps: AdminDeps): void {
  if (res.headersSent || res.writableEnded || res.destroyed || res.socket?.destroyed) return;
  countAnswer(deps, reply.status);
  const text = reply.text?.content ?? JSON.stringify(reply.body, null, 2) + '\n';
  res.writeHead(reply.status, {
    'content-type': reply.text?.contentType ?? 'application/json', 'content-length': Buffer.byteLength(text), ...reply.headers,
    // Closing stops reading whatever the client still sends (an unread body, a bad pipeline).
    ...(reply.close ? { connection: 'close' } : {}),
  });
  res.end(text);
}

function countAnswer(deps: AdminDeps, status: number): void {
  deps.counters.add('admin_requests');
  if (status >= 400 && status < 500) deps.counters.add('admin_bad_requests');
  else if (status === 500) deps.counters.add('admin_errors');
}
