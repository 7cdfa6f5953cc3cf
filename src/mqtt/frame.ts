// MQTT fixed header reader (packet type, flags, Remaining Length): answers need-more, invalid or header.

export type FixedHeader = {
  type: number; // control packet type, byte 0 bits 7-4 (1 = CONNECT)
  flags: number; // byte 0 bits 3-0; which values are legal depends on the type
  headerBytes: number; // 1 + the bytes of the Remaining Length varint (2..5)
  remainingLength: number; // bytes after the fixed header
  packetBytes: number; // headerBytes + remainingLength: the whole packet
};

export type FrameResult =
  | { kind: 'need-more' }
  | { kind: 'invalid'; reason: string }
  | { kind: 'header'; header: FixedHeader };

export type VarintResult =
  | { kind: 'need-more' }
  | { kind: 'invalid'; reason: string }
  | { kind: 'value'; value: number; bytes: number };

/** At most 4 varint bytes: 0xFF 0xFF 0xFF 0x7F encodes 268,435,455, the largest MQTT allows. */
export const maxVarintBytes = 4;

const needMore = { kind: 'need-more' } as const;

/**
 * Reads a Variable Byte Integer at buf[offset] (MQTT 3.1.1 §2.2.3, 5.0 §1.5.5): 7 bits a byte, low group
 * first, bit 7 = "more bytes follow". Bytes at or past `end` (default buf.length) are treated as not yet
 * received, so the caller decides whether that means "wait" or "runs past its field".
 * - A 4th byte with bit 7 set is invalid at once: no need to wait for a 5th.
 * - Non-minimal encodings (a multi-byte varint whose last byte is 0x00, e.g. 0x80 0x00 for 0) are invalid:
 *   5.0 requires the minimum number of bytes [MQTT-1.5.5-1], 3.1.1 Table 2.4 gives each value exactly one
 *   encoding, no client library writes another, and one parse per byte string keeps framing unambiguous.
 */
export function readVarint(buf: Uint8Array, offset: number, end = buf.length): VarintResult {
  const limit = Math.min(end, buf.length);
  let value = 0;
  let multiplier = 1;
  for (let i = 0; i < maxVarintBytes; i++) {
    const pos = offset + i;
    if (pos >= limit) return needMore;
    const digit = buf[pos];
    value += (digit & 0x7f) * multiplier;
    if ((digit & 0x80) === 0) {
      if (i > 0 && digit === 0) return { kind: 'invalid', reason: 'variable byte integer not minimally encoded' };
      return { kind: 'value', value, bytes: i + 1 };
    }
    multiplier *= 128;
  }
  return { kind: 'invalid', reason: 'variable byte integer longer than 4 bytes' };
}

/**
 * Reads the fixed header of the packet starting at buf[offset] (MQTT 3.1.1 §2.2, 5.0 §2.1.1): byte 0 is
 * type (bits 7-4) and flags (bits 3-0), then the Remaining Length varint (see readVarint for what is
 * invalid). Packet types and flags are not judged here: the caller knows which it expects.
 * Returns need-more while the header is incomplete; never reads past buf.length.
 */
export function readFixedHeader(buf: Uint8Array, offset = 0): FrameResult {
  if (offset >= buf.length) return needMore;
  const length = readVarint(buf, offset + 1);
  if (length.kind !== 'value') return length.kind === 'need-more' ? needMore : { kind: 'invalid', reason: `remaining length: ${length.reason}` };
  const byte0 = buf[offset];
  const headerBytes = 1 + length.bytes;
  return {
    kind: 'header',
    header: { type: byte0 >> 4, flags: byte0 & 0x0f, headerBytes, remainingLength: length.value, packetBytes: headerBytes + length.value },
  };
}
