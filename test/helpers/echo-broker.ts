// A minimal fake broker for data-path tests: answers the first packet (CONNECT) with CONNACK, then
// echoes (or, per test, holds/resets). Real sockets on 127.0.0.1.
import { createServer, type Server, type Socket } from 'node:net';
import { readFixedHeader } from '../../src/mqtt/frame.ts';
import { freePort } from './ports.ts';

export type EchoBroker = { port: number; server: Server; sockets: Set<Socket>; mode: 'echo' | 'hold'; close(): Promise<void> };

export async function startEchoBroker(): Promise<EchoBroker> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  const broker: EchoBroker = {
    port, sockets, mode: 'echo',
    server: createServer({ allowHalfOpen: true }, (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
      let pending: Buffer = Buffer.alloc(0);
      let connected = false;
      const onData = (d: Buffer) => {
        if (connected) return;
        pending = Buffer.concat([pending, d]);
        const h = readFixedHeader(pending);
        if (h.kind !== 'header' || pending.length < h.header.packetBytes) return;
        connected = true;
        s.off('data', onData);
        s.write(Buffer.from([0x20, 0x02, 0x00, 0x00]));
        const rest = pending.subarray(h.header.packetBytes);
        if (broker.mode === 'hold') { s.pause(); return; }
        if (rest.length) s.write(rest);
        s.pipe(s);
      };
      s.on('data', onData);
    }),
    close: () => new Promise((resolve) => { for (const s of sockets) s.destroy(); broker.server.close(() => resolve()); }),
  };
  await new Promise<void>((resolve) => broker.server.listen(port, '127.0.0.1', () => resolve()));
  return broker;
}
