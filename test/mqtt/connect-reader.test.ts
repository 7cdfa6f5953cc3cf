// Tests for src/mqtt/connect-reader.ts: the CONNECT phase fed segment by segment. The verdict and the
// bytes it forwards are a function of the bytes alone (whole, byte by byte, cut at every position), and
// memory is bounded by the CONNECT, not by what a client announces.
import { Buffer } from 'node:buffer';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConnectReader, bytesWanted } from '../../src/mqtt/connect-reader.ts';
import { readConnect } from '../../src/mqtt/connect.ts';
import { bigFixture, encodeVarint, fixtureNamed, smallFixtures } from '../fixtures/mqtt/connects.ts';
import { corpusInput, splitsOf } from '../fuzz/connect-corpus.ts';
import { readerOutcome, referenceDifferences } from '../fuzz/reader-outcome.ts';
import { mulberry32 } from '../helpers/random.ts';

const maxBytes = 64 * 1024;

test('a whole CONNECT in one segment is forwarded as that segment, without a copy', () => {
  const f = fixtureNamed('MQTT 3.1.1 minimal');
  const reader = new ConnectReader(maxBytes);
  const r = reader.push(f.bytes);
  if (r.kind !== 'complete') return assert.unreachable(r.kind);
  assert.ok(r.bytes === f.bytes);
  assert.equal(r.connect, f.expected);
});

test('a CONNECT split in two, with a PUBLISH behind it in the second segment: CONNECT + PUBLISH forwarded in order', () => {
  const f = fixtureNamed('MQTT 5.0 with every CONNECT property');
  const publish = Buffer.from([0x30, 0x05, 0x00, 0x01, 0x74, 0x68, 0x69]);
  for (let cut = 1; cut < f.bytes.length; cut++) {
    const reader = new ConnectReader(maxBytes);
    assert.is(reader.push(f.bytes.subarray(0, cut)).kind, 'need-more', `cut ${cut}`);
    const r = reader.push(Buffer.concat([f.bytes.subarray(cut), publish]));
    if (r.kind !== 'complete') return assert.unreachable(`cut ${cut}: ${r.kind}`);
    assert.is(r.packetBytes, f.bytes.length);
    assert.is(r.bytes.toString('hex'), Buffer.concat([f.bytes, publish]).toString('hex'), `cut ${cut}`);
  }
});

test('an announced 256 MiB (the MQTT maximum) CONNECT, header in a segment of its own: refused when the level is in, nothing buffered past 15 bytes', () => {
  const header = Buffer.concat([Buffer.from([0x10]), encodeVarint(256 * 1024 * 1024 - 1)]);
  const start = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x05, 0x02, 0x00, 0x1e]);
  const reader = new ConnectReader(maxBytes);
  assert.is(reader.push(header).kind, 'need-more');
  assert.ok(reader.bufferedBytes <= 15);
  for (let i = 0; i < 6; i++) assert.is(reader.push(start.subarray(i, i + 1)).kind, 'need-more', `byte ${i}`);
  const r = reader.push(start.subarray(6, 7)); // the protocol level
  assert.is(r.kind, 'too-large');
  if (r.kind === 'too-large') assert.is(r.protocolLevel, 5);
});

test('a bad protocol name is refused the moment its first wrong byte is in, however the header was cut', () => {
  const bad = Buffer.from([0x10, 0x20, 0x00, 0x04, 0x4d, 0x51, 0x58]); // "MQX..."
  for (let cut = 1; cut < bad.length; cut++) {
    const reader = new ConnectReader(maxBytes);
    assert.is(reader.push(bad.subarray(0, cut)).kind, 'need-more', `cut ${cut}`);
    assert.is(reader.push(bad.subarray(cut)).kind, 'malformed', `cut ${cut}`);
  }
});

test('a CONNECT sent byte by byte is held in one buffer that grows with what arrived (at most twice), never past the CONNECT', () => {
  const f = bigFixture; // 100+ KiB: needs a cap above its size
  const cap = f.bytes.length + 10;
  const reader = new ConnectReader(cap);
  let r;
  for (let i = 0; i < f.bytes.length; i++) {
    r = reader.push(f.bytes.subarray(i, i + 1));
    if (i < f.bytes.length - 1) {
      assert.is(r.kind, 'need-more');
      assert.is(reader.bufferedBytes, i + 1);
    }
  }
  assert.is(r!.kind, 'complete');
});

test('pushing after a verdict is a lifecycle error, not a silent success', () => {
  const reader = new ConnectReader(maxBytes);
  reader.push(Buffer.from([0xc0, 0x00]));
  assert.throws(() => reader.push(Buffer.from([0x00])), /after a verdict/);
});

test('every fixture: byte by byte and every two-way cut give the whole-input outcome', () => {
  for (const f of smallFixtures) {
    const whole = readerOutcome([f.bytes], maxBytes);
    assert.is(whole.verdict, 'complete', f.name);
    for (const s of splitsOf(f.bytes, mulberry32(1), 0)) assert.equal(readerOutcome(s.pieces, maxBytes), whole, `${f.name} ${s.name}`);
    for (let cut = 1; cut < f.bytes.length; cut++) {
      assert.equal(readerOutcome([f.bytes.subarray(0, cut), f.bytes.subarray(cut)], maxBytes), whole, `${f.name} cut ${cut}`);
    }
  }
});

/**
 * The native engine's way: it keeps the bytes and asks readConnect again only once bytesWanted(bytes)
 * are in. Returns the verdict kind at the first prefix it asks about that is not need-more.
 */
function askedLikeTheEngine(bytes: Buffer, cap: number): string {
  for (let have = 1; have <= bytes.length;) {
    const prefix = bytes.subarray(0, have);
    const r = readConnect(prefix, cap);
    if (r.kind !== 'need-more') return r.kind === 'complete' ? `complete ${r.packetBytes}` : r.kind;
    const want = bytesWanted(prefix);
    assert.ok(want > have, 'it always wants more than it has');
    have = want; // the engine may deliver more at once: by monotonicity the verdict is the same
  }
  return 'need-more';
}

// The property, on tens of thousands of seeded inputs: the outcome is a function of the bytes alone.
const corpusSeed = 0x5eed_0011;
const corpusCount = Number(process.env.SLUICE_READER_INPUTS ?? 20_000);

test(`${corpusCount} corpus inputs: whole, byte by byte, every two-way cut and random cuts agree; whole agrees with readConnect, and accepted CONNECTs with mqtt-packet`, () => {
  const verdicts = new Map<string, number>();
  const random = mulberry32(corpusSeed);
  for (let i = 0; i < corpusCount; i++) {
    const { bytes, kind } = corpusInput(corpusSeed, i);
    const cap = i % 5 === 0 ? 64 + (i % 200) : 1024; // small caps make more CONNECTs too large
    const whole = readerOutcome([bytes], cap);
    const label = `#${i} ${kind} ${bytes.toString('hex')} cap ${cap}`;
    // The reference: readConnect on the whole input gives the same verdict kind.
    const direct = readConnect(bytes, cap);
    assert.is(whole.verdict.split(' ')[0], direct.kind === 'need-more' ? 'ended' : direct.kind, label);
    verdicts.set(direct.kind, (verdicts.get(direct.kind) ?? 0) + 1);
    // What Sluice accepts (parsed once, in its own walk), mqtt-packet parses to the same fields.
    if (direct.kind === 'complete') assert.equal(referenceDifferences(bytes.subarray(0, direct.packetBytes), direct.connect), [], label);
    for (const s of splitsOf(bytes, random, 3)) assert.equal(readerOutcome(s.pieces, cap), whole, `${label} ${s.name}`);
    // Asking only at bytesWanted() gives the verdict asking at every byte gives.
    const everyByte = direct.kind === 'complete' ? `complete ${direct.packetBytes}` : direct.kind;
    assert.is(askedLikeTheEngine(bytes, cap), everyByte, `${label} (asked at bytesWanted)`);
    if (bytes.length <= 120) {
      for (let cut = 1; cut < bytes.length; cut++) assert.equal(readerOutcome([bytes.subarray(0, cut), bytes.subarray(cut)], cap), whole, `${label} cut ${cut}`);
    }
  }
  for (const kind of ['need-more', 'not-connect', 'too-large', 'unsupported-protocol', 'malformed', 'complete']) {
    assert.ok((verdicts.get(kind) ?? 0) > corpusCount / 200, `too few ${kind}: ${JSON.stringify([...verdicts])}`);
  }
});

test.run();
