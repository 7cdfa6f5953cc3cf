// TLS session ticket keys shared by every worker, so a device that reconnects resumes its TLS session
// whichever worker the kernel hands it to (a reconnect storm then costs symmetric crypto, not a full
// handshake per device). The primary makes the keys and rotates them; they live in a SharedArrayBuffer
// (a worker that starts later reads the current ones) behind a sequence word, so a reader never takes
// half of an old key and half of a new one. Keys never leave the process and are never logged.
import { randomFillSync } from 'node:crypto';

/** Node's ticket keys: 48 bytes (name, HMAC secret, AES key). */
export const kTicketKeyBytes = 48;
/** How long one key set serves; after a rotation, tickets of the old set mean one full handshake. */
export const kTicketKeyRotationMs = 12 * 3_600_000;

const kSeqWord = 0; // odd while a rotation writes
const kHeaderBytes = 8;

export class TicketKeys {
  readonly #seq: Int32Array;
  readonly #keys: Uint8Array;

  static allocate(): SharedArrayBuffer {
    const sab = new SharedArrayBuffer(kHeaderBytes + kTicketKeyBytes);
    new TicketKeys(sab).rotate();
    return sab;
  }

  constructor(sab: SharedArrayBuffer) {
    this.#seq = new Int32Array(sab, 0, 2);
    this.#keys = new Uint8Array(sab, kHeaderBytes, kTicketKeyBytes);
  }

  /** New random keys (the primary only). */
  rotate(): void {
    const fresh = randomFillSync(Buffer.alloc(kTicketKeyBytes));
    Atomics.add(this.#seq, kSeqWord, 1);
    this.#keys.set(fresh);
    Atomics.add(this.#seq, kSeqWord, 1);
  }

  /** The current keys, a consistent copy. */
  read(): Buffer {
    const out = Buffer.alloc(kTicketKeyBytes);
    for (;;) {
      const before = Atomics.load(this.#seq, kSeqWord);
      if ((before & 1) === 0) {
        out.set(this.#keys);
        if (Atomics.load(this.#seq, kSeqWord) === before) return out;
      }
    }
  }
}
