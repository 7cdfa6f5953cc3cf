// Discovery from a file: JSON or YAML with { brokers: [...] } (as the config's brokers: list), read at
// the start, when it changes (its directory is watched: an editor or a config manager replaces the file
// by a rename), and every interval in case a change was missed (network file systems send no events).
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { parseDocument } from 'yaml';
import type { Logger } from 'pino';
import type { CounterSink } from '../metrics/counters.ts';
import { parseBrokerList } from './broker-list.ts';
import { PollingSource, type PollResult } from './polling-source.ts';

/** A broker list is a few KiB; a larger file is a mistake, refused before it is read. */
const kMaxFileBytes = 1024 * 1024;
/** After a file event, wait this long for more (a write in several steps). */
const kSettleMs = 200;

export class FileSource extends PollingSource {
  readonly #path: string;
  #watcher: FSWatcher | undefined;
  #settle: NodeJS.Timeout | undefined;

  constructor(path: string, intervalMs: number, allowEmpty: boolean, onChange: () => void, log: Logger, counters: CounterSink) {
    super(`file ${path}`, intervalMs, allowEmpty, onChange, log, counters);
    this.#path = path;
  }

  override start(): Promise<void> {
    try {
      const name = basename(this.#path);
      this.#watcher = watch(dirname(this.#path), (_event, changed) => {
        if (changed?.toString() !== name) return;
        clearTimeout(this.#settle);
        this.#settle = setTimeout(() => void this.pollNow(), kSettleMs);
        this.#settle.unref();
      });
      this.#watcher.on('error', (err) => this.log.warn({ source: this.label, err: err.message }, 'discovery file watch failed; the file is still read every interval'));
      this.#watcher.unref();
    } catch (err) {
      this.log.warn({ source: this.label, err: (err as Error).message }, 'cannot watch the discovery file; it is read every interval');
    }
    return super.start();
  }

  override async stop(): Promise<void> {
    this.#watcher?.close();
    clearTimeout(this.#settle);
    await super.stop();
  }

  protected async poll(): Promise<PollResult> {
    let text: string;
    try {
      const st = await stat(this.#path);
      if (st.size > kMaxFileBytes) return { kind: 'failed', error: `${st.size} bytes is too large for a broker list (at most ${kMaxFileBytes})` };
      text = await readFile(this.#path, 'utf8');
    } catch (err) {
      return { kind: 'failed', error: `cannot read the file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
    }
    const doc = parseDocument(text, { uniqueKeys: true, logLevel: 'error' });
    if (doc.errors.length > 0) return { kind: 'failed', error: `not valid YAML or JSON: ${doc.errors[0].message.split('\n')[0]}` };
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      return { kind: 'failed', error: `not valid YAML or JSON: ${(err as Error).message}` };
    }
    const list = parseBrokerList(value ?? { brokers: [] });
    return list.ok ? { kind: 'set', brokers: list.brokers } : { kind: 'failed', error: list.error };
  }
}
