// Logging (pino) shared by the primary and the workers: JSON lines, or readable coloured lines on a
// terminal (pino-pretty); with a per-reason rate limit for client faults.
import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { threadId } from 'node:worker_threads';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type LogFormat = 'json' | 'pretty';

/** log.format as configured -> what is written: auto is pretty on a terminal, JSON anywhere else. */
export function resolveLogFormat(format: 'auto' | LogFormat, isTty = process.stdout.isTTY === true): LogFormat {
  return format === 'auto' ? (isTty ? 'pretty' : 'json') : format;
}

// Field names that must never reach a log line, wherever they appear in a logged object.
const redactPaths = ['password', '*.password', 'token', '*.token', 'key', '*.key', 'authorization', '*.authorization'];

/**
 * A logger for this thread. `format` as resolveLogFormat gives it (workers get the primary's: their own
 * stdout is never a terminal). Redaction comes before either format. `fd`: where it writes (tests).
 */
export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}, format: LogFormat = 'json', fd = 1): Logger {
  // Synchronous writes: a worker that dies still leaves its last line, and log volume here is low.
  const destination: DestinationStream = format === 'pretty'
    ? pretty({ destination: fd, sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })
    : pino.destination({ fd, sync: true });
  return pino({ level, base: { pid: process.pid, thread: threadId, ...bindings }, redact: { paths: redactPaths, censor: '[redacted]' } }, destination);
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
