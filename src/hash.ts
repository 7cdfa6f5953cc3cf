// Route-key hash: a 64-bit, platform-independent hash of a key's UTF-8 bytes (two 32-bit lanes), plus mix32.
//
// Lane A is the murmur3_x86_32 block round, lane B the xxhash32 round; the lanes see the same 32-bit
// words but mix them differently, and are folded into each other at the end (as murmur3_x86_128 does),
// so the 64 bits behave as one hash rather than two correlated ones. Only Math.imul, shifts and
// additions on int32 are used: the result is the same in every process, thread and platform.
// Not a cryptographic hash: a client that picks its own client id can pick colliding ones, which only
// lets it share a sticky pin with itself.

export type KeyHash = {
  /** upper 32 bits, uint32 */
  hi: number;
  /** lower 32 bits, uint32 */
  lo: number;
  /** the same 64 bits as a signed BigInt (BigInt64Array stores signed values); never 0n */
  big: bigint;
};

const kMurmurC1 = 0xcc9e2d51;
const kMurmurC2 = 0x1b873593;
const kXxPrime1 = 0x9e3779b1;
const kXxPrime2 = 0x85ebca77;
const kXxPrime3 = 0xc2b2ae3d;
const kXxPrime4 = 0x27d4eb2f;
const kSeedA = 0x2f0b3c4d; // arbitrary fixed seeds: changing them changes every route (and the pinned test values)
const kSeedB = 0x6a09e667;

const utf8 = new TextEncoder();

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function roundA(a: number, word: number): number {
  let k = Math.imul(word, kMurmurC1);
  k = rotl(k, 15);
  k = Math.imul(k, kMurmurC2);
  a ^= k;
  a = rotl(a, 13);
  return (Math.imul(a, 5) + 0xe6546b64) | 0;
}

function roundB(b: number, word: number): number {
  b = (b + Math.imul(word, kXxPrime2)) | 0;
  b = rotl(b, 13);
  return Math.imul(b, kXxPrime1);
}

// murmur3 fmix32: full avalanche of one 32-bit word.
function fmixA(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, kXxPrime3);
  return h ^ (h >>> 16);
}

// xxhash32 avalanche, a different permutation from fmixA so the two lanes stay independent.
function fmixB(h: number): number {
  h ^= h >>> 15;
  h = Math.imul(h, kXxPrime2);
  h ^= h >>> 13;
  h = Math.imul(h, kXxPrime3);
  return h ^ (h >>> 16);
}

function finish(a: number, b: number, tail: number, tailBytes: number, byteLength: number): KeyHash {
  if (tailBytes > 0) {
    // murmur3's tail step for lane A; an xxhash32-style 4-byte step for lane B.
    let k = Math.imul(tail, kMurmurC1);
    k = rotl(k, 15);
    a ^= Math.imul(k, kMurmurC2);
    b = Math.imul(rotl((b + Math.imul(tail, kXxPrime3)) | 0, 17), kXxPrime4);
  }
  a ^= byteLength;
  b ^= byteLength ^ 0x5bd1e995; // keeps a length-only difference from cancelling between lanes
  a = (a + b) | 0;
  b = (b + a) | 0;
  a = fmixA(a);
  b = fmixB(b);
  a = (a + b) | 0;
  b = (b + a) | 0;
  let hi = a >>> 0;
  let lo = b >>> 0;
  if (hi === 0 && lo === 0) lo = 1; // 0 marks an empty slot in shared tables
  return { hi, lo, big: BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)) };
}

/** The KeyHash with these two halves (a hash kept compactly as two uint32s, made whole again). */
export function keyHashOf(hi: number, lo: number): KeyHash {
  return { hi, lo, big: BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)) };
}

/** Hash raw bytes. `hashKey(s)` equals `hashBytes(UTF-8 bytes of s)`. */
export function hashBytes(bytes: Uint8Array): KeyHash {
  const n = bytes.length;
  const end4 = n - (n & 3);
  let a = kSeedA;
  let b = kSeedB;
  let i = 0;
  for (; i < end4; i += 4) {
    const word = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    a = roundA(a, word);
    b = roundB(b, word);
  }
  let tail = 0;
  for (let shift = 0; i < n; i++, shift += 8) tail |= bytes[i] << shift;
  return finish(a, b, tail, n & 3, n);
}

/**
 * Hash a route key (client id, username or address): its whole UTF-8 encoding, no truncation.
 * ASCII keys (the common case) are read straight from the string without encoding or allocating;
 * any other key is encoded once (lone surrogates become U+FFFD, as TextEncoder does).
 */
export function hashKey(key: string): KeyHash {
  const n = key.length;
  const end4 = n - (n & 3);
  let a = kSeedA;
  let b = kSeedB;
  let i = 0;
  for (; i < end4; i += 4) {
    const c0 = key.charCodeAt(i);
    const c1 = key.charCodeAt(i + 1);
    const c2 = key.charCodeAt(i + 2);
    const c3 = key.charCodeAt(i + 3);
    if ((c0 | c1 | c2 | c3) > 0x7f) return hashBytes(utf8.encode(key));
    const word = c0 | (c1 << 8) | (c2 << 16) | (c3 << 24);
    a = roundA(a, word);
    b = roundB(b, word);
  }
  let tail = 0;
  for (let shift = 0; i < n; i++, shift += 8) {
    const c = key.charCodeAt(i);
    if (c > 0x7f) return hashBytes(utf8.encode(key));
    tail |= c << shift;
  }
  return finish(a, b, tail, n & 3, n);
}

/**
 * Combine two 32-bit values into one well-mixed uint32 (for rendezvous scores: key x broker).
 * Non-linear in both inputs, so (a ^ x, b ^ x) pairs don't collide the way a plain XOR would.
 */
export function mix32(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}
