// Test harness for ForwardFns: a TCP "broker" server, and a proxy that pairs each accepted client with a
// new broker connection through the ForwardFn under test (no MQTT: the data path is protocol-agnostic).
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { freePort } from '../helpers/ports.ts';
import type { ByteMeter, ForwardEnd, ForwardFn } from '../../workers/forward.ts';

export type Harness = {
  port: number; // where clients connect (the proxy)
  ends: ForwardEnd[]; // one per pair, in the order they ended
  forwarding(): number; // pairs handed to the ForwardFn so far
  brokerSockets: Socket[]; // broker-side sockets, in accept order
  meter: ByteMeter; // what the ForwardFn counted as it moved bytes (the splice addon's part: takeMoved)
  /** Resolves when `n` pairs have ended. */
  waitEnds(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
};

export type HarnessOptions = {
  /** What the broker does with each connection it accepts. */
  onBroker: (s: Socket) => void;
  /** Written to the broker before forward is called, like the CONNECT the real caller writes. */
  preamble?: Buffer;
  /** Waits this long after the broker connects before calling forward: bytes pile up in Node meanwhile. */
  forwardDelayMs?: number;
};

export async function startHarness(forward: ForwardFn, opts: HarnessOptions): Promise<Harness> {
  const brokerSockets: Socket[] = [];
  const ends: ForwardEnd[] = [];
  let waiter: { n: number; resolve: () => void } | undefined;
  let forwarded = 0;
  const meter: ByteMeter = { clientToBroker: 0, brokerToClient: 0 };
  const proxySockets: Socket[] = []; // destroyed on close, so a failed test cannot hang the server close
  const broker = createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    brokerSockets.push(s);
    s.on('error', () => {}); // resets are part of the cases; each test asserts what it expects
    opts.onBroker(s);
  });
  const brokerPort = await listen(broker);
  const proxy = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    // As in the worker: the client is paused while the broker connects; Node may still buffer its bytes.
    client.pause();
    client.on('error', () => {});
    const b = connect({ host: '127.0.0.1', port: brokerPort, allowHalfOpen: true, noDelay: true });
    proxySockets.push(client, b);
    b.once('error', () => client.destroy());
    b.once('connect', () => {
      const start = () => {
        if (client.destroyed || b.destroyed) return;
        if (opts.preamble) b.write(opts.preamble);
        forwarded++;
        void forward(client, b, meter).then((end) => {
          ends.push(end);
          if (waiter && ends.length >= waiter.n) waiter.resolve();
        });
      };
      if (opts.forwardDelayMs) setTimeout(start, opts.forwardDelayMs);
      else start();
    });
  });
  const port = await listen(proxy);
  return {
    port,
    ends,
    forwarding: () => forwarded,
    brokerSockets,
    meter,
    waitEnds(n: number, timeoutMs = 20_000) {
      if (ends.length >= n) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${ends.length}/${n} pairs ended in ${timeoutMs} ms`)), timeoutMs);
        waiter = { n, resolve: () => { clearTimeout(t); resolve(); } };
      });
    },
    async close() {
      for (const s of [...brokerSockets, ...proxySockets]) s.destroy();
      await Promise.all([closeServer(proxy), closeServer(broker)]);
    },
  };
}

function listen(server: Server): Promise<number> {
  return freePort().then((port) => new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(port));
  }));
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

export function openClient(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true, noDelay: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

export type Received = { bytes: number; sha256: string; ended: boolean; error?: string };

/** Hashes everything a socket receives until EOF, close or error. */
export function receiveAll(s: Socket, timeoutMs = 25_000): Promise<Received> {
  return new Promise((resolve) => {
    const h = createHash('sha256');
    let bytes = 0;
    let ended = false;
    let error: string | undefined;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(t);
      resolve({ bytes, sha256: h.digest('hex'), ended, error });
    };
    const t = setTimeout(finish, timeoutMs);
    s.on('data', (d: Buffer) => { h.update(d); bytes += d.length; });
    s.once('end', () => { ended = true; finish(); });
    s.once('error', (e: NodeJS.ErrnoException) => { error = e.code ?? e.message; });
    s.once('close', finish);
  });
}

/** Writes `data` in chunks with backpressure, then optionally end(). */
export async function sendAll(s: Socket, data: Buffer, end: boolean, chunkBytes = 1 << 20): Promise<void> {
  for (let off = 0; off < data.length; off += chunkBytes) {
    if (s.destroyed) return;
    if (!s.write(data.subarray(off, off + chunkBytes))) {
      await new Promise<void>((resolve) => {
        const done = () => { s.off('drain', done); s.off('close', done); resolve(); };
        s.once('drain', done);
        s.once('close', done);
      });
    }
  }
  if (end && !s.destroyed) s.end();
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Polls `ready` every 5 ms until it holds; throws after `timeoutMs`. */
export async function waitFor(ready: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  for (let waitedMs = 0; !ready(); waitedMs += 5) {
    if (waitedMs >= timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Open file descriptors of this process. */
export const fdCount = () => readdirSync('/proc/self/fd').length;
