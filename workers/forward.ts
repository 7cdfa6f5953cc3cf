// The data-path seam: after CONNECT, move bytes both ways until either side ends. One implementation a
// file (forward-js.ts now; the splice addon plugs in here), chosen once per worker.
import type { Socket } from 'node:net';

export type ForwardEnd = {
  bytesClientToBroker: number; // bytes read from the client after hand-over
  bytesBrokerToClient: number;
  reason: 'client-closed' | 'broker-closed' | 'client-error' | 'broker-error' | 'shutdown';
  error?: string;
};

/** Forwards until both sides are closed; `first` has already been handed to the broker socket. */
export type ForwardFn = (client: Socket, broker: Socket) => Promise<ForwardEnd>;
