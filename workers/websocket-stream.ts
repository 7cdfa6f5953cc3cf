// One MQTT-over-WebSocket client as a byte stream: the payloads of its binary messages, joined, are the
// MQTT byte stream the CONNECT reader and the JS pipe see; what is written goes out as binary messages.
// It has what those two use of a socket: remoteAddress/remotePort, bytesRead, pause/resume with
// backpressure (a full stream pauses the WebSocket, so its TCP socket stops being read), end and destroy.
// WebSocket has no half-close: a close from either side ends both directions.
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

export class WebSocketStream extends Duplex {
  /** MQTT bytes received (message payloads), as a net.Socket counts what it read. */
  bytesRead = 0;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  readonly #ws: WebSocket;

  /** `raw`: the TCP (or TLS) socket under the WebSocket, for its addresses. `onText`: a text message
   *  arrived (MQTT is binary only); the stream is destroyed after it returns. */
  constructor(ws: WebSocket, raw: Socket, onText: () => void, onError: (err: Error) => void) {
    super({ allowHalfOpen: false });
    this.#ws = ws;
    this.remoteAddress = raw.remoteAddress;
    this.remotePort = raw.remotePort;
    this.localAddress = raw.localAddress;
    this.localPort = raw.localPort;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.destroyed) return;
      if (!isBinary) {
        onText();
        ws.close(1003, 'MQTT over WebSocket uses binary messages');
        this.destroy();
        return;
      }
      this.bytesRead += data.length;
      if (!this.push(data)) ws.pause();
    });
    // Like a FIN: what arrived before the close is still read (then the stream ends, and with no
    // half-close its writable side ends too); a write after it fails, which destroys the stream.
    ws.on('close', () => this.push(null));
    ws.on('error', (err) => {
      onError(err);
      this.destroy();
    });
  }

  override _read(): void {
    if (this.#ws.isPaused) this.#ws.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.#ws.send(chunk, { binary: true }, done);
  }

  override _final(done: (err?: Error | null) => void): void {
    this.#ws.close(1000);
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    if (this.#ws.readyState !== this.#ws.CLOSED) this.#ws.terminate();
    done(err);
  }
}
