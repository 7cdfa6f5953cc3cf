// A worker's graceful stop (SIGTERM): its listeners close at once; the connections it holds (spliced
// pairs, JS pairs, clients still sending CONNECT) get until the drain deadline to end by themselves; then
// every one left is closed: spliced pairs by the engine (reason shutdown), JS pairs by their own close.
// The last counts are published and the thread ends. A second shutdown message moves the deadline in.
import type { WorkerShare } from '../src/limits/worker-shares.ts';
import type { WorkerContext } from './worker-context.ts';

/** How often the connection count is looked at while draining. */
const kPollMs = 100;

export type ShutdownDeps = {
  ctx: WorkerContext;
  share: WorkerShare;
  closeListeners(): void;
  /** Ends every spliced pair now; how many. */
  stopSpliced(): number;
  /** Publishes the last byte counts. */
  flush(): void;
  /** Ends the thread. */
  exit(): void;
};

export class WorkerShutdown {
  readonly #d: ShutdownDeps;
  #deadline = Infinity;
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: ShutdownDeps) {
    this.#d = deps;
  }

  /** Starts the drain (or, when one runs, brings its deadline to `drainMs` from now if that is sooner). */
  begin(drainMs: number): void {
    const first = this.#timer === undefined;
    this.#deadline = Math.min(this.#deadline, Date.now() + drainMs);
    if (!first) return;
    this.#d.closeListeners();
    this.#d.ctx.log.info({ drainMs, open: this.#open() }, 'worker draining: no new connections; live ones may finish');
    this.#timer = setInterval(() => this.#check(), kPollMs);
    this.#check();
  }

  #open(): number {
    return this.#d.share.admittedCount() + this.#d.share.pending();
  }

  #check(): void {
    const open = this.#open();
    if (open > 0 && Date.now() < this.#deadline) return;
    clearInterval(this.#timer);
    const { ctx } = this.#d;
    let closed = 0;
    if (open > 0) {
      closed = this.#d.stopSpliced();
      for (const pair of [...ctx.jsPairs.values()]) {
        pair.shutdown();
        closed++;
      }
      ctx.log.warn({ closed, open }, 'drain timeout: the connections still open are closed');
    }
    // The ends just caused are counted on the next turn (the engine's events, the sockets' closes).
    setTimeout(() => {
      this.#d.flush();
      this.#d.exit();
    }, open > 0 ? 50 : 0);
  }
}
