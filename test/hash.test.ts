// Tests for src/hash.ts: pinned values, UTF-8 handling, whole-key hashing, distribution, mix32.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hashBytes, hashKey, mix32 } from '../src/hash.ts';

const hex = (n: number) => n.toString(16).padStart(8, '0');

test('pinned values: a change to the function changes every route, so it must be deliberate', () => {
  const pinned: Array<[string, string, string]> = [
    ['', 'a03cf260', 'b5903471'],
    ['a', 'e65cf379', '495f7b55'],
    ['abcd', 'dcad1286', '2d28ba85'],
    ['client-1', '17599c82', '7bfe1c90'],
    ['sensor/42', 'a0431319', '50f0b541'],
    ['héllo wörld ✓', '83ed94ca', '40839614'],
    ['😀', '2016b73e', '61f9d512'],
  ];
  for (const [key, hi, lo] of pinned) {
    const h = hashKey(key);
    assert.is(hex(h.hi), hi, `hi of ${JSON.stringify(key)}`);
    assert.is(hex(h.lo), lo, `lo of ${JSON.stringify(key)}`);
  }
  assert.is(hashKey('client-1').big, 1682548020039523472n);
  assert.is(hashKey('').big, -6900374031861533583n); // signed, as BigInt64Array stores it
});

test('hashKey(s) equals hashBytes(UTF-8 of s), ASCII fast path and encoded path alike', () => {
  for (const key of ['', 'x', 'abc', 'abcde', 'ascii-then-é', 'é-then-ascii', '日本語のクライアント', 'lone \ud800 surrogate', '😀😀😀']) {
    const a = hashKey(key);
    const b = hashBytes(new TextEncoder().encode(key));
    assert.equal([a.hi, a.lo, a.big], [b.hi, b.lo, b.big], JSON.stringify(key));
  }
});

test('fields agree: hi/lo are uint32 and big is the same 64 bits, signed', () => {
  for (let i = 0; i < 1000; i++) {
    const h = hashKey(`k${i}`);
    assert.ok(Number.isInteger(h.hi) && h.hi >= 0 && h.hi <= 0xffffffff);
    assert.ok(Number.isInteger(h.lo) && h.lo >= 0 && h.lo <= 0xffffffff);
    assert.is(h.big, BigInt.asIntN(64, (BigInt(h.hi) << 32n) | BigInt(h.lo)));
  }
});

test('1 MiB keys are hashed whole: a difference in the last or the first byte changes the hash', () => {
  const base = 'x'.repeat(1 << 20);
  const lastDiffers = base.slice(0, -1) + 'y';
  const firstDiffers = 'y' + base.slice(1);
  const longer = base + 'x';
  const hashes = [base, lastDiffers, firstDiffers, longer].map((k) => hashKey(k).big);
  assert.is(new Set(hashes).size, 4);
  const wide = 'é'.repeat(1 << 19); // 1 MiB of UTF-8 through the encoded path
  assert.is.not(hashKey(wide).big, hashKey(wide.slice(0, -1) + 'è').big);
});

test('100k keys: no 64-bit collision, never 0, buckets of both halves uniform (chi-square)', () => {
  const keys = 100_000;
  const buckets = 256;
  const countHi = new Array<number>(buckets).fill(0);
  const countLo = new Array<number>(buckets).fill(0);
  const seen = new Set<bigint>();
  for (let i = 0; i < keys; i++) {
    const h = hashKey(`device-${i}`);
    assert.ok(h.big !== 0n);
    seen.add(h.big);
    countHi[h.hi >>> 24]++;
    countLo[h.lo & (buckets - 1)]++;
  }
  assert.is(seen.size, keys);
  const expected = keys / buckets;
  for (const counts of [countHi, countLo]) {
    const chi2 = counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
    // 255 degrees of freedom: mean 255, sd ~22.6; 400 is beyond 6 sd.
    assert.ok(chi2 < 400, `chi-square ${chi2.toFixed(1)}`);
  }
});

test('avalanche: flipping one input bit flips about half of the 64 output bits', () => {
  const popcount = (x: number) => {
    let c = 0;
    for (; x !== 0; x &= x - 1) c++;
    return c;
  };
  let flipped = 0;
  let trials = 0;
  for (let i = 0; i < 500; i++) {
    const key = `client-${i}`;
    const h = hashKey(key);
    for (let pos = 0; pos < key.length; pos++) {
      for (let bit = 0; bit < 7; bit++) {
        const c = key.charCodeAt(pos) ^ (1 << bit);
        const h2 = hashKey(key.slice(0, pos) + String.fromCharCode(c) + key.slice(pos + 1));
        flipped += popcount(h.hi ^ h2.hi) + popcount(h.lo ^ h2.lo);
        trials++;
      }
    }
  }
  const mean = flipped / trials;
  assert.ok(mean > 31.5 && mean < 32.5, `mean flipped bits ${mean}`);
});

test('mix32: pinned, uint32, and a different result for swapped or neighbouring inputs', () => {
  const pinned = [mix32(0, 0), mix32(1, 2), mix32(0xffffffff, 0x12345678)].map(hex);
  assert.equal(pinned, ['60b89443', 'd4992945', '33df81bc']);
  const seen = new Set<number>();
  for (let a = 0; a < 100; a++) {
    for (let b = 0; b < 100; b++) {
      const m = mix32(a, b);
      assert.ok(Number.isInteger(m) && m >= 0 && m <= 0xffffffff);
      seen.add(m);
    }
  }
  assert.is(seen.size, 10_000);
  assert.is.not(mix32(1, 2), mix32(2, 1));
});

test.run();
