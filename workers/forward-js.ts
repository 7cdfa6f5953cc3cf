// JS data path, used for TLS, WebSocket and non-Linux: a pump each way with backpressure, whose writes
// are corked for one turn of the event loop so that what one read delivered leaves in one writev.
import type { Socket } from 'node:net';
import type { ByteMeter, ForwardEnd, ForwardFn } from './forward.ts';
import { unwatchIdle, watchIdle } from './idle-sweep.ts';

export const forwardJs: ForwardFn = (client: Socket, broker: Socket, meter: ByteMeter, idleMs = 0) =>
  new Promise<ForwardEnd>((resolve) => {
    // Bytes Node has read but not yet delivered are still to be forwarded: count them as after hand-over.
    const clientReadBefore = client.bytesRead - client.readableLength;
    const brokerReadBefore = broker.bytesRead - broker.readableLength;
    let reason: ForwardEnd['reason'] | undefined;
    let error: string | undefined;
    let closed = 0;
    let idled = false;
    // limits.idle: a client silent past its limit ends the pair, whatever the broker did (a half-open
    // device never answers the broker's FIN).
    const idle = idleMs > 0 ? watchIdle(idleMs, () => { idled = true; client.destroy(); broker.destroy(); }) : undefined;
    const settle = (r: ForwardEnd['reason'], err?: Error) => {
      if (reason) return;
      reason = r;
      error = err ? ((err as NodeJS.ErrnoException).code ?? err.message) : undefined;
    };
    const onClose = () => {
      if (++closed < 2) return;
      if (idle) unwatchIdle(idle);
      resolve({
        bytesClientToBroker: client.bytesRead - clientReadBefore,
        bytesBrokerToClient: broker.bytesRead - brokerReadBefore,
        reason: idled ? 'idle' : (reason ?? 'client-closed'),
        error,
      });
    };
    // An error or a full close on one side ends the other at once: a half-dead pair serves nobody.
    client.on('error', (err) => { settle('client-error', err); broker.destroy(); });
    broker.on('error', (err) => { settle('broker-error', err); client.destroy(); });
    client.on('close', () => { settle('client-closed'); broker.destroy(); onClose(); });
    broker.on('close', () => { settle('broker-closed'); client.destroy(); onClose(); });
    // Who sent FIN first is why the pair ended; an error or a close decides it otherwise.
    if (client.readableEnded) settle('client-closed');
    else client.once('end', () => settle('client-closed'));
    broker.once('end', () => settle('broker-closed'));
    pump(client, broker, idle ? (n) => { meter.clientToBroker += n; idle.heard += n; } : (n) => { meter.clientToBroker += n; });
    pump(broker, client, (n) => { meter.brokerToClient += n; });
    // Both were paused through the hand-over (the CONNECT reader, the broker connect).
    client.resume();
    broker.resume();
  });

/**
 * Corked bytes that are written at once rather than at the end of the turn: libuv reads a socket up to
 * 32 times in one turn, and a megabyte held back costs more in cache misses than it saves in syscalls.
 */
const kFlushAt = 64 * 1024;
/** Unsent bytes a destination may hold after a flush before its source is paused until it drains. */
const kMaxUnsent = 64 * 1024;

/**
 * Moves src's bytes to dst as they arrive. TLS decrypts a 64 KiB read into 16 KiB chunks and a
 * WebSocket delivers a message at a time; each would otherwise be its own write(2) and wake the
 * reader once. Corked until the event loop's check phase (the same turn) or kFlushAt, the chunks of
 * one read go out as one writev. src's end is passed on as dst's end (a half-close); `count` sees every
 * chunk as it moves (not when the pair ends).
 */
function pump(src: Socket, dst: Socket, count: (n: number) => void): void {
  let corked = false;
  let flushScheduled = false;
  const resume = () => src.resume();
  const uncork = () => {
    corked = false;
    dst.uncork();
    // What the kernel did not take stays in dst: past the bound, src waits. A write has returned false
    // on the way there (dst's high-water mark is lower), so 'drain' comes once dst is empty.
    if (dst.writableLength > kMaxUnsent && !dst.destroyed && !src.isPaused()) {
      src.pause();
      dst.once('drain', resume);
    }
  };
  const flushAtTurnEnd = () => {
    flushScheduled = false;
    if (corked) uncork();
  };
  src.on('data', (chunk: Buffer) => {
    count(chunk.length);
    if (dst.destroyed) return;
    if (!corked) {
      corked = true;
      dst.cork();
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushAtTurnEnd);
      }
    }
    dst.write(chunk);
    if (dst.writableLength >= kFlushAt) uncork();
  });
  // end() uncorks first: every byte written before the FIN goes out before it.
  const passEnd = () => {
    corked = false;
    if (!dst.destroyed) dst.end();
  };
  // A FIN that came with the CONNECT was emitted while the connection was being placed: pass it on now.
  if (src.readableEnded) passEnd();
  else src.once('end', passEnd);
}
