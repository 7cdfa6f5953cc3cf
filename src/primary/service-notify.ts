// systemd's notify protocol (a Type=notify service, sd_notify(3)): READY=1 once every worker listens,
// RELOADING=1 then READY=1 around a reload, STOPPING=1 at shutdown, WATCHDOG=1 every half WATCHDOG_USEC,
// and a STATUS= line each time. Not under systemd (no NOTIFY_SOCKET) it does nothing. The datagram goes
// through the native addon (Node has no unix datagram sockets); a send that fails is logged, never fatal.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';

/** Sends one datagram; an errno name on failure. */
export type NotifySend = (socket: string, message: string) => string | undefined;

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

/** The addon's sender, or why there is none. */
export function loadNotifySend(): NotifySend | string {
  try {
    const require = createRequire(import.meta.url);
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => { sdNotify?: NotifySend };
    const addon = nodeGypBuild(projectRoot);
    return addon.sdNotify ? (socket, message) => addon.sdNotify!(socket, message) : 'the native addon has no sdNotify (rebuild it)';
  } catch (err) {
    return `native addon not loaded: ${(err as Error).message}`;
  }
}

export class ServiceNotify {
  readonly #socket: string | undefined;
  readonly #watchdogUs: number;
  readonly #log: Logger;
  readonly #send: NotifySend | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #failures = 0;

  /** Reads NOTIFY_SOCKET and WATCHDOG_USEC and removes them from `env`, so no process Sluice starts (a
   *  demo broker) takes them for its own. */
  constructor(log: Logger, env: NodeJS.ProcessEnv = process.env, send: NotifySend | string | undefined = undefined) {
    this.#log = log;
    this.#socket = env.NOTIFY_SOCKET || undefined;
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
    this.#watchdogUs = forUs ? Number(env.WATCHDOG_USEC ?? 0) || 0 : 0;
    delete env.NOTIFY_SOCKET;
    delete env.WATCHDOG_USEC;
    delete env.WATCHDOG_PID;
    if (this.#socket === undefined) return;
    const sender = send ?? loadNotifySend();
    if (typeof sender === 'string') log.warn({ reason: sender }, 'NOTIFY_SOCKET is set but notifications cannot be sent; systemd will not see Sluice ready');
    else this.#send = sender;
  }

  /** Under a service manager that listens. */
  get active(): boolean {
    return this.#send !== undefined;
  }

  /** Every worker listens (at the start, and after a reload): READY=1; the watchdog starts. */
  ready(status: string): void {
    this.#notify(`READY=1\nSTATUS=${status}`);
    if (this.#watchdogUs > 0 && !this.#watchdog) {
      // Half the interval, as sd_watchdog_enabled(3) advises.
      this.#watchdog = setInterval(() => this.#notify('WATCHDOG=1'), Math.max(1, Math.floor(this.#watchdogUs / 2000)));
      this.#watchdog.unref();
    }
  }

  /** A reload begins (Type=notify-reload wants the monotonic time with it). */
  reloading(): void {
    this.#notify(`RELOADING=1\nMONOTONIC_USEC=${process.hrtime.bigint() / 1000n}\nSTATUS=reloading the config`);
  }

  /** Shutdown begins: the drain runs until the connections end or its timeout. */
  stopping(status: string): void {
    this.#notify(`STOPPING=1\nSTATUS=${status}`);
  }

  stop(): void {
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
  }

  #notify(message: string): void {
    if (!this.#send || !this.#socket) return;
    const failure = this.#send(this.#socket, message);
    if (failure === undefined) return;
    // The first failures are worth a line each; a stuck socket is not worth one per watchdog tick.
    if (++this.#failures <= 3) this.#log.warn({ socket: this.#socket, error: failure, message: message.split('\n')[0] }, 'systemd notification not sent');
  }
}
