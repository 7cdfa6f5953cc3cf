// The data-path seam: after CONNECT, move bytes both ways until either side ends. One implementation a
// file (forward-js.ts now; the splice addon plugs in here), chosen once per worker.
import type { Socket } from 'node:net';

export type ForwardEnd = {
  bytesClientToBroker: number; // bytes read from the client after hand-over
  bytesBrokerToClient: number;
  reason: 'client-closed' | 'broker-closed' | 'client-error' | 'broker-error' | 'shutdown' | 'idle' | 'drained';
  error?: string;
};

/** A worker's running byte totals: the data path adds as bytes move, the worker publishes every second. */
export type ByteMeter = { clientToBroker: number; brokerToClient: number };

/**
 * Forwards until both sides are closed; the CONNECT and what came with it have already been written
 * to the broker socket (and counted). Bytes moved afterwards are added to `meter` as they move. With
 * `idleMs` > 0 the pair ends (reason idle) once the client has sent nothing for that long.
 */
export type ForwardFn = (client: Socket, broker: Socket, meter: ByteMeter, idleMs?: number) => Promise<ForwardEnd>;
