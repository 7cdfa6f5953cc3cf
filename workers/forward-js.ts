// JS data path: stream.pipe both ways with Node's backpressure; used for TLS, WebSocket and non-Linux.
import type { Socket } from 'node:net';
import type { ByteMeter, ForwardEnd, ForwardFn } from './forward.ts';

export const forwardJs: ForwardFn = (client: Socket, broker: Socket, meter: ByteMeter) =>
  new Promise<ForwardEnd>((resolve) => {
    // Bytes Node has read but not yet delivered are still to be forwarded: count them as after hand-over.
    const clientReadBefore = client.bytesRead - client.readableLength;
    const brokerReadBefore = broker.bytesRead - broker.readableLength;
    let reason: ForwardEnd['reason'] | undefined;
    let error: string | undefined;
    let closed = 0;
    const settle = (r: ForwardEnd['reason'], err?: Error) => {
      if (reason) return;
      reason = r;
      error = err ? ((err as NodeJS.ErrnoException).code ?? err.message) : undefined;
    };
    const onClose = () => {
      if (++closed < 2) return;
      resolve({
        bytesClientToBroker: client.bytesRead - clientReadBefore,
        bytesBrokerToClient: broker.bytesRead - brokerReadBefore,
        reason: reason ?? 'client-closed',
        error,
      });
    };
    // An error or a full close on one side ends the other at once: a half-dead pair serves nobody.
    client.on('error', (err) => { settle('client-error', err); broker.destroy(); });
    broker.on('error', (err) => { settle('broker-error', err); client.destroy(); });
    client.on('close', () => { settle('client-closed'); broker.destroy(); onClose(); });
    broker.on('close', () => { settle('broker-closed'); client.destroy(); onClose(); });
    // Who sent FIN first is why the pair ended; an error or a close decides it otherwise.
    client.once('end', () => settle('client-closed'));
    broker.once('end', () => settle('broker-closed'));
    // Counted as they move (the worker publishes every second), not when the pair ends.
    client.on('data', (chunk: Buffer) => { meter.clientToBroker += chunk.length; });
    broker.on('data', (chunk: Buffer) => { meter.brokerToClient += chunk.length; });
    // pipe() ends the other side's write half on 'end' (half-close passes through) and applies backpressure.
    client.pipe(broker);
    broker.pipe(client);
    client.resume();
  });
