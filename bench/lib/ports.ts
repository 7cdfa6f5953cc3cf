// Free loopback ports for test and bench servers, below the ephemeral range (32768+) used by client sockets here.
import { createServer } from 'node:net';

const used = new Set<number>();

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (used.has(port)) continue;
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) { used.add(port); return port; }
  }
  throw new Error('no free port found in 200 attempts');
}
