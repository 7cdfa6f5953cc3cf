// Test runner: runs each uvu test file in its own Node process and ends with "N passed, N failed".
// One process per file keeps end-to-end suites (servers, workers, brokers) from leaking into each other.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const fileTimeoutMs = 300_000;

function findTests(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (name.endsWith('.test.ts')) found.push(path);
  }
  return found;
}

type FileResult = { file: string; passed: number; failed: number; skipped: number; note?: string };

// The file running now: Ctrl-C or a stop signal ends its whole process group too (it is detached).
let running: ChildProcess | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (running?.pid) try { process.kill(-running.pid, 'SIGKILL'); } catch { /* already gone */ }
    process.exit(130);
  });
}

function runFile(file: string, env: Record<string, string> = {}): Promise<FileResult> {
  return new Promise((resolve) => {
    // Its own process group: a file that hangs is killed with everything it started (Sluice, brokers).
    const child = spawn(process.execPath, [file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, detached: true });
    running = child;
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d; process.stdout.write(d); });
    child.stderr.on('data', (d: Buffer) => { process.stderr.write(d); });
    const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { child.kill('SIGKILL'); } }, fileTimeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? NaN);
      const passed = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? NaN);
      const skipped = Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0);
      const rel = relative(root, file) + (env.SLUICE_DATAPATH ? ` [${env.SLUICE_DATAPATH}]` : '');
      if (Number.isNaN(total) || Number.isNaN(passed)) {
        // No summary: the file crashed or hung. Count it as one failure, never as a pass.
        resolve({ file: rel, passed: 0, failed: 1, skipped: 0, note: `no uvu summary (exit ${code ?? signal})` });
        return;
      }
      let failed = total - passed - skipped;
      // A summary with all passed but a non-zero exit means something failed after the tests ran.
      if (failed === 0 && code !== 0) failed = 1;
      resolve({ file: rel, passed, failed, skipped, note: code !== 0 ? `exit ${code ?? signal}` : undefined });
    });
  });
}

const filters = process.argv.slice(2);
// Filters match the path from the project root (test/...), so the checkout's own location never matches.
const files = findTests(join(root, 'test')).filter((f) => filters.length === 0 || filters.some((p) => relative(root, f).includes(p)));
const results: FileResult[] = [];
// End-to-end files run once per data path: the same suite must pass on the JS pipe and on splice.
const datapaths = ['js', 'splice'];
for (const file of files) {
  const perDatapath = relative(root, file).startsWith('test/e2e/');
  const envs: Record<string, string>[] = perDatapath ? datapaths.map((d) => ({ SLUICE_DATAPATH: d })) : [{}];
  for (const env of envs) {
    console.log(`\n# ${relative(root, file)}${env.SLUICE_DATAPATH ? ` [SLUICE_DATAPATH=${env.SLUICE_DATAPATH}]` : ''}`);
    results.push(await runFile(file, env));
  }
}
console.log('\n# per file');
for (const r of results) {
  console.log(`${r.failed ? 'FAIL' : 'ok  '} ${r.file}: ${r.passed} passed, ${r.failed} failed${r.skipped ? `, ${r.skipped} skipped` : ''}${r.note ? ` (${r.note})` : ''}`);
}
const sum = (k: 'passed' | 'failed' | 'skipped') => results.reduce((n, r) => n + r[k], 0);
const skipped = sum('skipped');
console.log(`${sum('passed')} passed, ${sum('failed')} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exitCode = sum('failed') > 0 || files.length === 0 ? 1 : 0;
