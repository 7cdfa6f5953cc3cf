// One client's CONNECT phase, fed TCP segments as they come: answers need-more, a refusal verdict, or the
// complete CONNECT with every byte that came after it. Pure (no sockets, no timers): every connection
// source (plain TCP, TLS, WebSocket) feeds the same reader.
//
// The verdict is a function of the bytes alone, never of how TCP cut them: readConnect's verdicts come
// from bytes at fixed positions, in byte order, and this reader asks it again on every segment (the
// question is O(1) until the whole CONNECT is here, so that is cheap), instead of waiting for the
// announced length. Memory is bounded by the packet, not by what the client announces: bytes are copied
// into one buffer that grows (doubling) with what has arrived, up to the announced size, and a CONNECT
// announced larger than maxConnectBytes is refused as soon as its protocol level is in (at most 15 bytes
// from the start: the CONNACK form depends on the level), with nothing more kept.
import { Buffer } from 'node:buffer';
import { readConnect, type ConnectReadResult } from './connect.ts';
import { readFixedHeader } from './frame.ts';
import type { Refusal } from './connack.ts';

/** What the reader answers: readConnect's verdicts, and on 'complete' the bytes to forward. */
export type ConnectReaderResult =
  | Exclude<ConnectReadResult, { kind: 'complete' }>
  | (Extract<ConnectReadResult, { kind: 'complete' }> & { bytes: Buffer }); // bytes: the CONNECT, then what followed it

// Every early verdict (type, flags, Remaining Length, protocol name and level, Connect Flags) is decided
// by the first 1 + 4 + 2 + 6 + 1 + 1 = 15 bytes; for a too-large CONNECT nothing past them is kept.
const kEarlyBytes = 15;
const kMinCapacity = 256;
const needMore: ConnectReaderResult = { kind: 'need-more' };

export class ConnectReader {
  readonly #maxConnectBytes: number;
  #buf: Buffer | undefined; // the CONNECT bytes received so far, in buf[0, #length)
  #length = 0;
  #packetBytes = 0; // the CONNECT's announced size once its fixed header is in, else 0
  #done = false;

  constructor(maxConnectBytes: number) {
    this.#maxConnectBytes = maxConnectBytes;
  }

  /** Bytes held for this client now (what the CONNECT phase costs in memory, apart from the object). */
  get bufferedBytes(): number {
    return this.#length;
  }

  /**
   * Feeds the next segment. After a verdict other than need-more the reader is done: feeding it more
   * throws (a lifecycle bug, not a client fault). The segment may be kept (the common case: the whole
   * CONNECT in one segment is forwarded without a copy), so the caller must not reuse its memory.
   */
  push(chunk: Buffer): ConnectReaderResult {
    if (this.#done) throw new Error('ConnectReader: push after a verdict');
    if (this.#length === 0) {
      // First bytes: most clients send the whole CONNECT in one segment; read it in place.
      const r = readConnect(chunk, this.#maxConnectBytes);
      if (r.kind !== 'need-more') return this.#verdict(r, chunk);
      this.#learnPacketBytes(chunk);
      this.#append(chunk, 0);
      return needMore;
    }
    const taken = this.#append(chunk, 0);
    const view = this.#buf!.subarray(0, this.#length);
    const r = readConnect(view, this.#maxConnectBytes);
    if (r.kind === 'need-more') {
      if (this.#packetBytes === 0) this.#learnPacketBytes(view);
      return needMore;
    }
    if (r.kind !== 'complete') return this.#verdict(r, view);
    // Complete: the CONNECT is buf[0, packetBytes); whatever of this segment was not copied follows it.
    const rest = chunk.subarray(taken);
    const bytes = rest.length === 0 ? view : Buffer.concat([view, rest], view.length + rest.length);
    return this.#verdict(r, bytes);
  }

  #verdict(r: ConnectReadResult, bytes: Buffer): ConnectReaderResult {
    this.#done = true;
    this.#buf = undefined;
    this.#length = 0;
    return r.kind === 'complete' ? { ...r, bytes } : r;
  }

  #learnPacketBytes(buf: Buffer): void {
    const h = readFixedHeader(buf);
    if (h.kind === 'header') this.#packetBytes = h.header.packetBytes;
  }

  /**
   * Copies from chunk[offset] what the CONNECT can still use: up to its announced size (or, for one
   * announced over the cap, up to the early bytes). Returns the offset in chunk after the copied bytes.
   */
  #append(chunk: Buffer, offset: number): number {
    let at = offset;
    while (at < chunk.length) {
      const limit = this.#packetBytes === 0 ? kEarlyBytes
        : this.#packetBytes > this.#maxConnectBytes ? Math.min(this.#packetBytes, kEarlyBytes) : this.#packetBytes;
      const n = Math.min(chunk.length - at, limit - this.#length);
      if (n <= 0) break;
      this.#reserve(this.#length + n, limit);
      chunk.copy(this.#buf!, this.#length, at, at + n);
      this.#length += n;
      at += n;
      // The fixed header may have just become whole: the limit for the rest of this chunk changes.
      if (this.#packetBytes === 0) this.#learnPacketBytes(this.#buf!.subarray(0, this.#length));
      else break;
    }
    return at;
  }

  #reserve(needed: number, limit: number): void {
    const buf = this.#buf;
    if (buf !== undefined && buf.length >= needed) return;
    const capacity = Math.min(Math.max(needed, kMinCapacity, (buf?.length ?? 0) * 2), Math.max(limit, needed));
    const grown = Buffer.allocUnsafe(capacity);
    if (buf !== undefined) buf.copy(grown, 0, 0, this.#length);
    this.#buf = grown;
  }
}

/** A refusal verdict of the reader. */
export type ConnectRefusalVerdict = Exclude<ConnectReaderResult, { kind: 'need-more' } | { kind: 'complete' }>;

/**
 * What the client is told for a refusal verdict: which Refusal, at which protocol level and name (they
 * choose the CONNACK form; see connack.ts). Every connection source answers through this one mapping.
 */
export function refusalOf(r: ConnectRefusalVerdict): { refusal: Refusal; protocolLevel: number | undefined; protocolName: string | undefined } {
  switch (r.kind) {
    case 'not-connect':
      return { refusal: 'malformed', protocolLevel: undefined, protocolName: undefined };
    case 'malformed':
      return { refusal: 'malformed', protocolLevel: r.protocolLevel, protocolName: undefined };
    case 'unsupported-protocol':
      return { refusal: 'unsupported-protocol', protocolLevel: r.protocolLevel, protocolName: r.protocolName };
    case 'too-large':
      return { refusal: 'too-large', protocolLevel: r.protocolLevel, protocolName: undefined };
  }
}

/**
 * For a buffer readConnect answered need-more on: how many bytes must be in before its verdict can
 * change. Until the Connect Flags byte is in, every byte can (name, level, flags are judged byte by
 * byte); after it, nothing changes until the whole packet is here. A source that gathers bytes itself
 * (the native engine) asks again only then: a CONNECT cut into many segments costs a few calls, and the
 * verdict is still the one the byte-by-byte reader gives.
 */
export function bytesWanted(buf: Uint8Array): number {
  const frame = readFixedHeader(buf);
  if (frame.kind !== 'header') return buf.length + 1;
  const { headerBytes, packetBytes } = frame.header;
  // Name length (2 bytes; its low byte is 4 or 6 once readConnect let it pass), name, level, flags.
  if (buf.length < headerBytes + 2) return buf.length + 1;
  const flagsEnd = headerBytes + 2 + buf[headerBytes + 1] + 2;
  return buf.length < flagsEnd ? buf.length + 1 : packetBytes;
}
