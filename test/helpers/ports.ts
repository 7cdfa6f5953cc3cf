// Free loopback ports for test servers: the same picker the benchmark harness uses, and blocks of
// consecutive free ports (the demo cluster's brokers take first_port, first_port + 1, ...).
import { createServer } from 'node:net';
import { freePort } from '../../bench/lib/ports.ts';

export { freePort };

const handedOut = new Set<number>();

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A base port such that base .. base + count - 1 are all free now, below the ephemeral range (32768). */
export async function freePortBlock(count: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (12000 - count));
    const ports = Array.from({ length: count }, (_, i) => base + i);
    if (ports.some((p) => handedOut.has(p))) continue;
    if ((await Promise.all(ports.map(portIsFree))).every(Boolean)) {
      ports.forEach((p) => handedOut.add(p));
      return base;
    }
  }
  throw new Error(`no block of ${count} free ports found in 200 attempts`);
}
