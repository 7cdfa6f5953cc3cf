// Runs corpus inputs through a real Sluice listener, each cut several ways, against a recording broker:
// what the client gets back and what the broker receives must be the same for every cut, and the same
// as the ConnectReader's outcome for the whole input. Shared by test/e2e/connect-splits and `npm run fuzz`.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { setImmediate as tick } from 'node:timers/promises';
import { freePort } from '../helpers/ports.ts';
import { mulberry32 } from '../helpers/random.ts';
import { corpusInput, splitsOf, type CorpusInput } from './connect-corpus.ts';
import { readerOutcome, type Outcome } from './reader-outcome.ts';

/** A broker that records every byte of each connection until the client's FIN, then ends its side. */
export type Recorder = { port: number; takeFinished(): string[]; close(): Promise<void> };

export async function startRecorder(): Promise<Recorder> {
  const port = await freePort();
  let finished: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => { finished.push(Buffer.concat(chunks).toString('hex')); s.end(); });
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  // A deep accept queue: bursts of thousands must not overflow it (the kernel would reset the excess).
  await new Promise<void>((resolve) => server.listen({ port, host: '127.0.0.1', backlog: 8192 }, () => resolve()));
  return {
    port,
    takeFinished() { const out = finished; finished = []; return out; },
    close: () => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}

/** Sends `pieces` as separate writes (a loop turn between them), then FIN; resolves with what came back. */
export function sendPieces(port: number, pieces: readonly Buffer[], timeoutMs = 5000): Promise<{ reply: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true, allowHalfOpen: true });
    const got: Buffer[] = [];
    let done = false;
    const finish = (timedOut: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ reply: Buffer.concat(got).toString('hex'), timedOut });
    };
    const timer = setTimeout(() => finish(true), timeoutMs);
    socket.on('data', (d: Buffer) => got.push(d));
    socket.on('end', () => finish(false));
    socket.on('close', () => finish(false));
    socket.on('error', () => finish(false));
    socket.on('connect', async () => {
      for (const p of pieces) {
        if (socket.destroyed || socket.writableEnded) return;
        socket.write(p);
        await tick();
      }
      if (!socket.destroyed) socket.end();
    });
  });
}

export type Mismatch = { input: CorpusInput; expected: Outcome; seen: string[] };
export type InputRun = { mismatch: Mismatch | undefined; connections: number };

/**
 * Runs one input: every cut at once, each on its own connection. Returns a mismatch description, or
 * undefined when every cut gave the expected reply and the broker got the expected bytes once per cut.
 */
export async function runInput(port: number, recorder: Recorder, input: CorpusInput, maxConnectBytes: number, seed: number): Promise<InputRun> {
  const expected = readerOutcome([input.bytes], maxConnectBytes);
  const splits = splitsOf(input.bytes, mulberry32(seed + input.index), 2);
  const results = await Promise.all(splits.map((s) => sendPieces(port, s.pieces)));
  // Each forwarded connection ends at the broker before its client sees the FIN: all are recorded now.
  const recorded = recorder.takeFinished();
  const seen: string[] = [];
  let ok = true;
  results.forEach((r, i) => {
    seen.push(`${splits[i].name}: reply=${r.reply || '-'}${r.timedOut ? ' (timed out)' : ''}`);
    if (r.timedOut || r.reply !== expected.reply) ok = false;
  });
  const wantRecorded = expected.forwarded === '' ? 0 : splits.length;
  seen.push(`broker got ${recorded.length} connection(s)${recorded.some((x) => x !== expected.forwarded) ? ' with other bytes: ' + recorded.join(' | ') : ''}`);
  if (recorded.length !== wantRecorded || recorded.some((x) => x !== expected.forwarded)) ok = false;
  return { mismatch: ok ? undefined : { input, expected, seen }, connections: splits.length };
}

/** Runs corpus inputs [from, from + count) through the listener; returns every mismatch and the verdict counts. */
export async function runCorpusThroughListener(port: number, recorder: Recorder, opts: { seed: number; from?: number; count: number; maxConnectBytes: number; onInput?: (input: CorpusInput, expected: Outcome) => void }): Promise<{ mismatches: Mismatch[]; verdicts: Map<string, number>; connections: number }> {
  const mismatches: Mismatch[] = [];
  let connections = 0;
  const verdicts = new Map<string, number>();
  const from = opts.from ?? 0;
  for (let i = from; i < from + opts.count; i++) {
    const input = corpusInput(opts.seed, i);
    const expected = readerOutcome([input.bytes], opts.maxConnectBytes);
    const kind = expected.verdict.split(' ')[0];
    verdicts.set(kind, (verdicts.get(kind) ?? 0) + 1);
    opts.onInput?.(input, expected);
    const run = await runInput(port, recorder, input, opts.maxConnectBytes, opts.seed);
    connections += run.connections;
    if (run.mismatch) mismatches.push(run.mismatch);
  }
  return { mismatches, verdicts, connections };
}
