// Counting an accepted connection's end: the process-wide counter and its listener's count (the per-
// listener metrics, src/metrics/connection-stats.ts) in one call, so the two never disagree.
import type { ConnectionEnd, HandshakeRefusal } from '../src/metrics/connection-stats.ts';
import type { WorkerContext } from './worker-context.ts';

export function countEnd(ctx: WorkerContext, listener: number, end: ConnectionEnd): void {
  ctx.counters.add(end);
  ctx.stats.ended(listener, end);
}

export function countAccepted(ctx: WorkerContext, listener: number): void {
  ctx.counters.add('connections_accepted');
  ctx.stats.accepted(listener);
}

/** Forwarded to a broker `sinceAcceptMs` after the accept. */
export function countForwarded(ctx: WorkerContext, listener: number, sinceAcceptMs: number): void {
  ctx.counters.add('connections_forwarded');
  ctx.stats.forwarded(listener, sinceAcceptMs);
}

/** Refused before it was accepted as MQTT (TLS handshake, PROXY header, HTTP upgrade). */
export function countHandshakeRefusal(ctx: WorkerContext, listener: number, why: HandshakeRefusal): void {
  ctx.counters.add(why);
  ctx.stats.refusedBeforeAccept(listener, why);
}
