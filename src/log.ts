// JSON logging (pino) shared by the primary and the workers, with a per-reason rate limit for client faults.
import { pino, type Logger } from 'pino';
import { threadId } from 'node:worker_threads';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

// Field names that must never reach a log line, wherever they appear in a logged object.
const redactPaths = ['password', '*.password', 'token', '*.token', 'key', '*.key', 'authorization', '*.authorization'];

export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}): Logger {
  return pino(
    { level, base: { pid: process.pid, thread: threadId, ...bindings }, redact: { paths: redactPaths, censor: '[redacted]' } },
    // Synchronous writes: a worker that dies still leaves its last line, and log volume here is low.
    pino.destination({ fd: 1, sync: true }),
  );
}

/**
 * Logs client faults (bad CONNECT, timeouts, limits) at most `perSecond` times a second per reason,
 * so a flood of bad clients cannot flood the log; the next line says how many were suppressed.
 */
export class RateLimitedLog {
  readonly #log: Logger;
  readonly #perSecond: number;
  readonly #windows = new Map<string, { startMs: number; count: number; suppressed: number }>();

  constructor(log: Logger, perSecond = 10) {
    this.#log = log;
    this.#perSecond = perSecond;
  }

  warn(reason: string, fields: Record<string, unknown>, msg: string, nowMs = Date.now()): void {
    this.#emit('warn', reason, fields, msg, nowMs);
  }

  /** For Sluice's own failures on one connection's path (a bug, not a client fault): same rate limit. */
  error(reason: string, fields: Record<string, unknown>, msg: string, nowMs = Date.now()): void {
    this.#emit('error', reason, fields, msg, nowMs);
  }

  #emit(level: 'warn' | 'error', reason: string, fields: Record<string, unknown>, msg: string, nowMs: number): void {
    let w = this.#windows.get(reason);
    if (!w || nowMs - w.startMs >= 1000) {
      const suppressed = w?.suppressed ?? 0;
      w = { startMs: nowMs, count: 0, suppressed: 0 };
      this.#windows.set(reason, w);
      if (suppressed > 0) this.#log[level]({ reason, suppressed }, 'similar log lines suppressed');
    }
    if (w.count < this.#perSecond) {
      w.count++;
      this.#log[level]({ reason, ...fields }, msg);
    } else {
      w.suppressed++;
    }
  }
}
