// Certificate reload in the primary: on SIGHUP, and when a certificate, key or CA file changes (an
// editor's rename or a cert manager's write, settled for a moment), the TLS files are read and checked
// again in a small piscina pool; new material goes to every worker, which builds its own SecureContext
// from it (live connections keep the one they started with). A file that is missing, unparsable, or a
// key that is not its certificate's keeps the old material, and the log says why. What is served now,
// and how the last reload went, is what the admin endpoint shows (GET /api/tls).
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { Piscina } from 'piscina';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/resolved.ts';
import type { TlsMaterial } from './material.ts';
import type { CheckAnswer } from './check-task.ts';

/** After a file event, wait this long for more (a cert manager writes cert, key and chain one by one). */
const kSettleMs = 500;

export type ReloadOutcome = { atMs: number; trigger: string; ok: boolean; error?: string };

export class TlsReloader {
  #config: ResolvedConfig;
  readonly #source: string;
  readonly #log: Logger;
  readonly #publish: (material: (TlsMaterial | undefined)[]) => void;
  readonly #pool: Piscina;
  readonly #watchers: FSWatcher[] = [];
  #material: (TlsMaterial | undefined)[];
  #last: ReloadOutcome | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();

  constructor(config: ResolvedConfig, source: string, material: (TlsMaterial | undefined)[], log: Logger, publish: (material: (TlsMaterial | undefined)[]) => void) {
    this.#config = config;
    this.#source = source;
    this.#material = material;
    this.#log = log;
    this.#publish = publish;
    // One thread, gone when idle: reloads are rare.
    this.#pool = new Piscina({ filename: new URL('./check-task.ts', import.meta.url).href, minThreads: 0, maxThreads: 1, idleTimeout: 5000 });
  }

  get material(): (TlsMaterial | undefined)[] {
    return this.#material;
  }

  /** The listeners the material is for (same index). */
  get listeners(): ResolvedConfig['listeners'] {
    return this.#config.listeners;
  }

  get lastReload(): ReloadOutcome | undefined {
    return this.#last;
  }

  /** Watches the directories of every TLS file (a rename replaces a file: its own watch would go quiet). */
  watchFiles(): void {
    for (const w of this.#watchers.splice(0)) w.close();
    const files = new Set<string>();
    for (const l of this.#config.listeners) {
      if (!l.tls) continue;
      for (const p of l.tls.pairs) { files.add(p.cert); files.add(p.key); }
      if (l.tls.ca) files.add(l.tls.ca);
    }
    const byDir = new Map<string, Set<string>>();
    for (const f of files) {
      const names = byDir.get(dirname(f)) ?? new Set<string>();
      names.add(basename(f));
      byDir.set(dirname(f), names);
    }
    for (const [dir, names] of byDir) {
      try {
        const w = watch(dir, (_event, name) => { if (name && names.has(name.toString())) this.#soon(); });
        w.on('error', (err) => this.#log.warn({ dir, err: err.message }, 'TLS file watch failed; SIGHUP still reloads'));
        w.unref();
        this.#watchers.push(w);
      } catch (err) {
        this.#log.warn({ dir, err: (err as Error).message }, 'cannot watch TLS files; SIGHUP still reloads');
      }
    }
  }

  #soon(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.reload('file change'), kSettleMs);
    this.#timer.unref();
  }

  /** Reads and checks the files again; publishes the result if it is good. Reloads run one at a time. */
  reload(trigger: string): Promise<void> {
    return this.serialized(() => this.#reloadNow(trigger));
  }

  /** Runs `fn` after every reload before it and before any after it (a listener change uses it: the
   *  material published must be for the listeners the workers have). */
  serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#running.then(fn);
    this.#running = run.then(() => undefined, () => undefined);
    return run;
  }

  /** The TLS material of `listeners` (a reload's new list), read and checked; throws with the reason. */
  async check(listeners: ResolvedConfig['listeners']): Promise<(TlsMaterial | undefined)[]> {
    if (!listeners.some((l) => l.tls)) return listeners.map(() => undefined);
    const answer = await this.#check({ ...this.#config, listeners });
    if (!answer.ok) throw new Error(answer.error);
    for (const w of answer.warnings) this.#log.warn({ listener: w.listener, cert: w.certFile }, w.msg);
    return answer.material;
  }

  /** The workers now have `listeners` with `material`: certificate reloads and file watches follow them. */
  follow(listeners: ResolvedConfig['listeners'], material: (TlsMaterial | undefined)[]): void {
    this.#config = { ...this.#config, listeners };
    this.#material = material;
    this.watchFiles();
  }

  async #check(config: ResolvedConfig): Promise<CheckAnswer> {
    try {
      return await this.#pool.run({ config, source: this.#source });
    } catch (err) {
      return { ok: false, error: `the check failed: ${(err as Error).message}` };
    }
  }

  async #reloadNow(trigger: string): Promise<void> {
    if (!this.#config.listeners.some((l) => l.tls)) return; // no TLS listener: nothing to read
    const answer = await this.#check(this.#config);
    if (!answer.ok) {
      this.#last = { atMs: Date.now(), trigger, ok: false, error: answer.error };
      this.#log.error({ trigger, reason: answer.error }, 'TLS reload refused; the certificates loaded before stay in use');
      return;
    }
    this.#material = answer.material;
    this.#last = { atMs: Date.now(), trigger, ok: true };
    for (const w of answer.warnings) this.#log.warn({ listener: w.listener, cert: w.certFile }, w.msg);
    this.#publish(answer.material);
    this.#log.info({ trigger, certificates: answer.material.flatMap((m) => m?.pairs.map((p) => p.certFile) ?? []) }, 'TLS certificates reloaded');
  }

  async close(): Promise<void> {
    clearTimeout(this.#timer);
    for (const w of this.#watchers) w.close();
    await this.#pool.destroy();
  }
}
