// Runs the C load generators (bench/native/loadgen.c; tlsgen.c for TLS and WebSocket) and reads their JSON result lines.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { loadgenBin } from './backends.ts';
import { track } from './processes.ts';

export type LoadgenResult = Record<string, number | string>;

/** Runs loadgen to its end; resolves with its last JSON line. `onLine` sees every JSON line as it comes
 *  (e.g. `window` marks, to sample the target's CPU when the measured window opens and closes). `bin`:
 *  loadgen, or tlsgen (the same result lines and idle protocol). */
export function runLoadgen(args: string[], cpu: string | undefined, timeoutMs: number, onLine?: (m: LoadgenResult) => void, bin = loadgenBin): Promise<LoadgenResult> {
  return new Promise((resolve, reject) => {
    const child = spawnLoadgen(bin, args, cpu, 'ignore');
    let result: LoadgenResult | undefined;
    let err = '';
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try { result = JSON.parse(line); } catch { return; /* not a result line */ }
      onLine?.(result!);
    });
    child.stderr!.on('data', (d) => { err = (err + d).slice(-4000); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0 && result) resolve(result);
      else reject(new Error(`${bin} ${args.join(' ')} failed (exit ${code}): ${err}`));
    });
  });
}

/** An idle-connection holder: resolves once every connection is up; `release()` closes them all. */
export function holdIdle(args: string[], cpu: string | undefined, timeoutMs: number, bin = loadgenBin): Promise<{ result: LoadgenResult; release(): Promise<void> }> {
  return new Promise((resolve, reject) => {
    const child = spawnLoadgen(bin, ['idle', ...args], cpu, 'pipe');
    let err = '';
    child.stderr!.on('data', (d) => { err = (err + d).slice(-4000); });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`idle connections not ready in ${timeoutMs} ms: ${err}`)); }, timeoutMs);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`loadgen idle exited (${code}): ${err}`)); });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let m: LoadgenResult;
      try { m = JSON.parse(line); } catch { return; }
      if (m.type !== 'idle-ready') return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve({
        result: m,
        release: () => new Promise<void>((done) => {
          const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
          child.once('exit', () => { clearTimeout(kill); done(); });
          child.stdin!.end('\n');
        }),
      });
    });
  });
}

function spawnLoadgen(bin: string, args: string[], cpu: string | undefined, stdin: 'ignore' | 'pipe'): ChildProcess {
  const [file, argv] = cpu !== undefined ? ['taskset', ['-c', cpu, bin, ...args]] : [bin, args];
  return track(spawn(file, argv, { stdio: [stdin, 'pipe', 'pipe'] }));
}
