// Splice data path: hands a client/broker TCP pair to the native addon, which moves the bytes with
// splice(2) in the kernel; without the addon, or for a socket with no fd (TLS), the JS pipe is used.
//
// Handover (the pattern measured in DESIGN.md): stop Node reading both sockets, drain what Node already
// buffered and write it to the other side, wait until every pending write (the caller's CONNECT too) has
// reached the kernel, then let the addon dup() both fds, and destroy the Node sockets. Their 'close'
// events fire at handover, not when the connection ends: the returned promise is the end.
import type { Socket } from 'node:net';
import type { ByteMeter, ForwardEnd, ForwardFn } from './forward.ts';
import { forwardJs } from './forward-js.ts';
import { splice, spliceEndReasons } from './splice-addon.ts';

/** The internals the handover needs; net.Socket keeps them undeclared. */
type StreamHandle = { fd?: number; reading?: boolean; readStop?: () => number; readStart?: () => number };
type HandleSocket = Socket & { _handle?: StreamHandle | null };

const empty: Buffer = Buffer.alloc(0);

export const forwardSplice: ForwardFn = (client: Socket, broker: Socket, meter: ByteMeter) => {
  const binding = splice;
  if (!binding || !canHandOver(client) || !canHandOver(broker)) return forwardJs(client, broker, meter);
  return new Promise<ForwardEnd>((resolve) => {
    let handedOver = false; // the sockets belong to the addon (or, after a failed start, to forwardJs)
    let failed = false;
    let firstReason: ForwardEnd['reason'] | undefined;
    let firstError: string | undefined;
    let closed = 0;
    let fromClient = empty;
    let fromBroker = empty;

    // Until the handover, the Node sockets can still fail (a reset while the CONNECT is in flight):
    // end both, and report what happened first.
    const onFault = (reason: ForwardEnd['reason'], err?: NodeJS.ErrnoException) => {
      if (handedOver) return;
      if (!firstReason) {
        firstReason = reason;
        firstError = err ? (err.code ?? err.message) : undefined;
      }
      failed = true;
      client.destroy();
      broker.destroy();
    };
    const onClose = (reason: ForwardEnd['reason']) => {
      if (handedOver) return;
      onFault(reason);
      if (++closed < 2) return;
      resolve({
        bytesClientToBroker: fromClient.length,
        bytesBrokerToClient: fromBroker.length,
        reason: firstReason ?? 'client-closed',
        error: firstError,
      });
    };
    client.on('error', (err) => onFault('client-error', err));
    broker.on('error', (err) => onFault('broker-error', err));
    client.once('close', () => onClose('client-closed'));
    broker.once('close', () => onClose('broker-closed'));

    stopReading(client);
    stopReading(broker);
    // Bytes Node read before the handover go first, in order: the kernel only has what came after.
    fromClient = drainBuffered(client);
    fromBroker = drainBuffered(broker);
    // What the addon moves it counts per thread (takeMovedBytes); what Node had read is counted here.
    meter.clientToBroker += fromClient.length;
    meter.brokerToClient += fromBroker.length;
    let flushed = 0;
    const onFlushed = (reason: ForwardEnd['reason'], err: Error | null | undefined) => {
      if (err) onFault(reason, err); // called back before the socket's 'error' is emitted
      else if (++flushed === 2 && !failed) handOver();
    };
    // Write callbacks run in order, so each one means every earlier write (the caller's CONNECT
    // included) is in the kernel; an empty write still calls back.
    broker.write(fromClient, (err) => onFlushed('broker-error', err));
    client.write(fromBroker, (err) => onFlushed('client-error', err));

    function handOver(): void {
      const clientFd = (client as HandleSocket)._handle?.fd;
      const brokerFd = (broker as HandleSocket)._handle?.fd;
      if (clientFd === undefined || brokerFd === undefined || client.destroyed || broker.destroyed) {
        onFault('client-closed');
        return;
      }
      const onEnd = (c2b: number, b2c: number, reasonCode: number, errno: string | undefined) => resolve({
        bytesClientToBroker: fromClient.length + c2b,
        bytesBrokerToClient: fromBroker.length + b2c,
        reason: spliceEndReasons[reasonCode] ?? 'client-error',
        error: errno,
      });
      let failure: string | undefined;
      try {
        failure = binding!.start(clientFd, brokerFd, onEnd);
      } catch (err) {
        failure = (err as Error).message; // an fd the addon refuses: not expected for TCP, never fatal
      }
      if (failure !== undefined) {
        // No fd or memory for the dups (EMFILE...): this pair takes the JS path; nothing was lost.
        handedOver = true;
        resumeReading(client);
        resumeReading(broker);
        forwardJs(client, broker, meter).then((end) => resolve({
          ...end,
          bytesClientToBroker: end.bytesClientToBroker + fromClient.length,
          bytesBrokerToClient: end.bytesBrokerToClient + fromBroker.length,
        }), () => resolve({ bytesClientToBroker: fromClient.length, bytesBrokerToClient: fromBroker.length, reason: 'client-error', error: failure }));
        return;
      }
      handedOver = true;
      // The addon polls its own dups; closing Node's fds neither sends FIN nor disturbs the dups.
      // After this write callback returns: destroyed inside it, Node's afterWrite builds an
      // ERR_STREAM_DESTROYED (stack trace and all) per pending callback, a few % of CPU per connection.
      setImmediate(() => {
        client.destroy();
        broker.destroy();
      });
    }
  });
};

/** Bytes the addon moved on this thread since the last call, client->broker and broker->client. */
export function takeSplicedBytes(): [number, number] {
  return splice ? splice.takeMoved() : [0, 0];
}

/** Ends every spliced pair of this thread (graceful stop timed out); each resolves with 'shutdown'. */
export function stopSplicedPairs(): number {
  return splice ? splice.stopAll() : 0;
}

/** A plain connected TCP socket that Node has not closed either way. */
function canHandOver(s: Socket): boolean {
  const fd = (s as HandleSocket)._handle?.fd;
  return typeof fd === 'number' && fd >= 0 && !s.destroyed && !s.connecting && !s.writableEnded;
}

/** Stops Node reading the socket: pause() alone leaves the handle reading into the buffer. */
function stopReading(s: Socket): void {
  s.pause();
  const h = (s as HandleSocket)._handle;
  if (!h) return;
  h.reading = false; // what Socket#_read checks before it starts reading again
  h.readStop?.();
}

/** Undoes stopReading for the JS path: the stream still waits for the read drainBuffered's last
 *  read() asked for (Readable's own `reading` flag), so the handle must start again by itself. */
function resumeReading(s: Socket): void {
  const h = (s as HandleSocket)._handle;
  if (!h || h.reading) return;
  h.reading = true;
  h.readStart?.();
}

/** Takes every byte Node has buffered. read() may restart the handle's reading, so it is stopped again
 *  (nothing is read before the loop turns). */
function drainBuffered(s: Socket): Buffer {
  const chunks: Buffer[] = [];
  for (let c = s.read() as Buffer | null; c !== null; c = s.read() as Buffer | null) chunks.push(c);
  stopReading(s);
  return chunks.length === 0 ? empty : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}
