// Runs one of the bench's native tools (loadgen, tlsgen) to its end: exit code, stdout parsed as one
// JSON object per line (a line that is not JSON fails the test loudly), and stderr.
import { spawn } from 'node:child_process';

export type Json = Record<string, any>;

export function runJsonTool(bin: string, args: string[], timeoutMs: number): Promise<{ code: number | null; out: Json[]; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => { out += d; });
    child.stderr!.on('data', (d) => { err += d; });
    const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(kill);
      resolve({ code, out: out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Json), err });
    });
  });
}
