// Tests for the CONNECT reader: every cut of valid CONNECTs, every malformed shape, and a seeded fuzz.
import { Buffer } from 'node:buffer';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import mqtt from 'mqtt-packet';
import { readConnect } from '../../src/mqtt/connect.ts';
import type { ConnectReadResult } from '../../src/mqtt/connect.ts';
import {
  bigFixture, fixtureNamed, lp, mqttPacketParse, mqttVariableHeader, packet, smallFixtures, splitPacket, validConnects,
  withRemainingLength,
} from '../fixtures/mqtt/connects.ts';

const maxBytes = 1 << 20;
const passwords = validConnects.map((f) => f.password).filter((p): p is string => p !== undefined);

function assertNoPassword(result: ConnectReadResult, where: string): void {
  const text = JSON.stringify(result);
  for (const password of passwords) assert.not.ok(text.includes(password), `${where}: password in result`);
}

function assertMalformed(bytes: Uint8Array, reasonPart: string, protocolLevel: number | undefined): void {
  const r = readConnect(bytes, maxBytes);
  assert.is(r.kind, 'malformed', `expected malformed (${reasonPart}), got ${JSON.stringify(r)}`);
  if (r.kind !== 'malformed') return;
  assert.match(r.reason, reasonPart);
  assert.is(r.protocolLevel, protocolLevel);
}

const publish = mqtt.generate({ cmd: 'publish', topic: 'a/b', payload: Buffer.from('hello'), qos: 1, messageId: 1, retain: false, dup: false });
const pingreq = mqtt.generate({ cmd: 'pingreq' });

// ---- valid CONNECTs, cut at every offset ----

test('every fixture is accepted by mqtt-packet as exactly one CONNECT', () => {
  for (const f of validConnects) {
    const parsed = mqttPacketParse(f.bytes, f.expected.protocolLevel);
    assert.is(parsed.error, undefined, f.name);
    assert.is(parsed.packets.length, 1, f.name);
  }
});

test('valid CONNECTs: every strict prefix needs more, the whole gives the fields and packetBytes', () => {
  for (const f of validConnects) {
    for (let cut = 0; cut < f.bytes.length; cut++) {
      const r = readConnect(f.bytes.subarray(0, cut), maxBytes);
      if (r.kind !== 'need-more') assert.unreachable(`${f.name}: cut ${cut}/${f.bytes.length} gave ${JSON.stringify(r)}`);
    }
    const r = readConnect(f.bytes, maxBytes);
    assert.equal(r, { kind: 'complete', connect: f.expected, packetBytes: f.bytes.length }, f.name);
    assertNoPassword(r, f.name);
  }
});

test('a CONNECT followed by PUBLISH and PINGREQ in one buffer: packetBytes is the CONNECT alone, at every cut', () => {
  for (const f of smallFixtures) {
    const stream = Buffer.concat([f.bytes, publish, pingreq]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const r = readConnect(stream.subarray(0, cut), maxBytes);
      if (cut < f.bytes.length) assert.is(r.kind, 'need-more', `${f.name} cut ${cut}`);
      else assert.equal(r, { kind: 'complete', connect: f.expected, packetBytes: f.bytes.length }, `${f.name} cut ${cut}`);
    }
  }
});

test('a Uint8Array view into a larger buffer works like a Buffer', () => {
  const f = fixtureNamed('MQTT 5.0 with every');
  const backing = new Uint8Array(f.bytes.length + 20);
  backing.set(f.bytes, 7);
  const view = backing.subarray(7, 7 + f.bytes.length + 3);
  assert.equal(readConnect(view, maxBytes), { kind: 'complete', connect: f.expected, packetBytes: f.bytes.length });
});

test('the longest client id (65,535 bytes, multi-byte UTF-8) is kept whole; the 100+ KiB CONNECT is too large for a 64 KiB cap', () => {
  const r = readConnect(bigFixture.bytes, maxBytes);
  assert.is(r.kind, 'complete');
  if (r.kind !== 'complete') return;
  assert.ok(bigFixture.bytes.length > 100 * 1024);
  assert.is(Buffer.byteLength(r.connect.clientId), 65_535);
  assert.is(r.connect.clientId, bigFixture.expected.clientId);
  // With a 64 KiB cap: too-large as soon as the protocol level byte is in, before the body arrives.
  const levelEnd = splitPacket(bigFixture.bytes).headerBytes + 7;
  for (let cut = 0; cut < levelEnd; cut++) assert.is(readConnect(bigFixture.bytes.subarray(0, cut), 65_536).kind, 'need-more');
  for (const cut of [levelEnd, levelEnd + 1, 1000, bigFixture.bytes.length]) {
    assert.equal(readConnect(bigFixture.bytes.subarray(0, cut), 65_536), { kind: 'too-large', packetBytes: bigFixture.bytes.length, protocolLevel: 4 });
  }
});

test('too-large reports the protocol level, 3.1 and 5.0 alike; a packet exactly at the cap is fine', () => {
  for (const prefix of ['MQTT 3.1 (MQIsdp)', 'MQTT 5.0 with every', 'MQTT 3.1.1 minimal']) {
    const f = fixtureNamed(prefix);
    const r = readConnect(f.bytes, f.bytes.length - 1);
    assert.equal(r, { kind: 'too-large', packetBytes: f.bytes.length, protocolLevel: f.expected.protocolLevel }, prefix);
    assertNoPassword(r, prefix);
    assert.is(readConnect(f.bytes, f.bytes.length).kind, 'complete', prefix);
  }
});

// ---- not a CONNECT ----

test('first packet not CONNECT: decided from byte 0 alone', () => {
  for (const [bytes, packetType] of [[publish, 3], [pingreq, 12], [Buffer.from([0x00]), 0], [Buffer.from([0xf0]), 15], [Buffer.from('GET / HTTP/1.1\r\n'), 4]] as const) {
    assert.equal(readConnect(bytes, maxBytes), { kind: 'not-connect', packetType });
    assert.equal(readConnect(bytes.subarray(0, 1), maxBytes), { kind: 'not-connect', packetType });
  }
});

// ---- malformed framing ----

test('CONNECT with non-zero fixed-header flags is malformed from byte 0', () => {
  const f = fixtureNamed('MQTT 3.1.1 minimal');
  for (const byte0 of [0x11, 0x12, 0x18, 0x1f]) {
    const bytes = Buffer.from(f.bytes);
    bytes[0] = byte0;
    assertMalformed(bytes, 'fixed-header flags', undefined);
    assertMalformed(bytes.subarray(0, 1), 'fixed-header flags', undefined);
  }
  // A TLS ClientHello sent to a plain listener starts 0x16: type 1 with flags 6, so malformed, not not-connect.
  assertMalformed(Buffer.from([0x16, 0x03, 0x01]), 'fixed-header flags', undefined);
});

test('Remaining Length of 5 bytes, or not minimally encoded, is malformed', () => {
  assertMalformed(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff]), 'longer than 4 bytes', undefined);
  assertMalformed(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x80, 0x01]), 'longer than 4 bytes', undefined);
  assert.is(readConnect(Buffer.from([0x10, 0xff, 0xff, 0xff]), maxBytes).kind, 'need-more');
  const f = fixtureNamed('MQTT 3.1.1 minimal');
  const { body } = splitPacket(f.bytes);
  // Same length, encoded in two bytes: 0x8n 0x00.
  assertMalformed(Buffer.concat([Buffer.from([0x10, 0x80 | body.length, 0x00]), body]), 'not minimally encoded', undefined);
});

test('bad protocol names are malformed as soon as the first wrong byte is in', () => {
  const cases: Array<[number[], string]> = [
    [[0x00, 0x04, 0x4d, 0x51, 0x54, 0x58, 0x04], 'MQTX'],
    [[0x00, 0x06, 0x4d, 0x51, 0x49, 0x73, 0x64, 0x71, 0x03], 'MQIsdq'],
    [[0x00, 0x04, 0x6d, 0x71, 0x74, 0x74, 0x04], 'lower case mqtt'],
    [[0x00, 0x05, 0x4d, 0x51, 0x54, 0x54, 0x35, 0x05], 'length 5'],
    [[0x01, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04], 'length high byte 1'],
    [[0x00, 0x00, 0x04], 'empty name'],
  ];
  for (const [head, label] of cases) {
    const bytes = packet(0x10, [...head, 0x02, 0x00, 0x0a, ...lp('id')]);
    assertMalformed(bytes, 'protocol name', undefined);
    // Find the first wrong byte and check the verdict comes with it, not before.
    const good = [0x00, head[1] === 6 ? 6 : 4, ...(head[1] === 6 ? [0x4d, 0x51, 0x49, 0x73, 0x64, 0x70] : [0x4d, 0x51, 0x54, 0x54])];
    let firstBad = 0;
    while (head[firstBad] === good[firstBad]) firstBad++;
    const badPos = 2 + firstBad;
    assert.is(readConnect(bytes.subarray(0, badPos), maxBytes).kind, 'need-more', label);
    assertMalformed(bytes.subarray(0, badPos + 1), 'protocol name', undefined);
  }
});

test('unsupported protocol levels: decided at the level byte, name and level reported', () => {
  const cases: Array<[number[], string, number]> = [
    [mqttVariableHeader(6, 0x02), 'MQTT', 6],
    [mqttVariableHeader(2, 0x02), 'MQTT', 2],
    [mqttVariableHeader(3, 0x02), 'MQTT', 3], // 3 only goes with MQIsdp
    [mqttVariableHeader(0x84, 0x02), 'MQTT', 0x84], // bridge bit
    [mqttVariableHeader(0, 0x02), 'MQTT', 0],
    [[0x00, 0x06, 0x4d, 0x51, 0x49, 0x73, 0x64, 0x70, 0x04, 0x02, 0x00, 0x0a], 'MQIsdp', 4],
  ];
  for (const [head, protocolName, protocolLevel] of cases) {
    const bytes = packet(0x10, [...head, ...lp('id')]);
    const levelEnd = 2 + head[1] + 3;
    assert.is(readConnect(bytes.subarray(0, levelEnd - 1), maxBytes).kind, 'need-more');
    for (const cut of [levelEnd, bytes.length]) {
      assert.equal(readConnect(bytes.subarray(0, cut), maxBytes), { kind: 'unsupported-protocol', protocolName, protocolLevel }, `${protocolName} ${protocolLevel}`);
    }
    // Unsupported wins over too-large: the client learns the real problem.
    assert.is(readConnect(bytes, 5).kind, 'unsupported-protocol');
  }
});

test('a bad protocol name wins over too-large', () => {
  const bytes = packet(0x10, [0x00, 0x04, 0x4d, 0x51, 0x54, 0x58, 0x04, 0x02, 0x00, 0x0a, ...lp('x'.repeat(300))]);
  assertMalformed(bytes, 'protocol name', undefined);
  assert.is(readConnect(bytes, 100).kind, 'malformed');
});

test('Remaining Length too short for the variable header is malformed at once', () => {
  for (const remainingLength of [0, 1, 3, 6, 7]) {
    const bytes = withRemainingLength(fixtureNamed('MQTT 3.1.1 minimal').bytes, remainingLength);
    // Only header + what the length covers are needed for the verdict.
    assertMalformed(bytes.subarray(0, 2 + remainingLength), 'too short', remainingLength >= 7 ? 4 : undefined);
  }
});

// ---- Connect Flags ----

test('reserved connect flag set: malformed once the flags byte is in, in every version', () => {
  for (const prefix of ['MQTT 3.1 (MQIsdp)', 'MQTT 3.1.1 minimal', 'MQTT 5.0 empty']) {
    const f = fixtureNamed(prefix);
    const flagsPos = splitPacket(f.bytes).headerBytes + (f.expected.protocolLevel === 3 ? 9 : 7);
    const bytes = Buffer.from(f.bytes);
    bytes[flagsPos] |= 0x01;
    assert.is(readConnect(bytes.subarray(0, flagsPos), maxBytes).kind, 'need-more');
    assertMalformed(bytes.subarray(0, flagsPos + 1), 'reserved connect flag', f.expected.protocolLevel);
    assertMalformed(bytes, 'reserved connect flag', f.expected.protocolLevel);
  }
});

test('will QoS 3, will QoS/retain without will, password without user name (3.1, 3.1.1) are malformed', () => {
  const body = (level: number, flags: number, rest: number[]) => packet(0x10, [...mqttVariableHeader(level, flags), ...(level === 5 ? [0] : []), ...lp('id'), ...rest]);
  const will = [...lp('t'), ...lp('p')];
  assertMalformed(body(4, 0x1e, will), 'will QoS 3', 4);
  assertMalformed(body(5, 0x1e, [0, ...will]), 'will QoS 3', 5);
  assertMalformed(body(4, 0x0a, []), 'without the will flag', 4); // QoS 1, no will
  assertMalformed(body(4, 0x22, []), 'without the will flag', 4); // retain, no will
  assertMalformed(body(4, 0x42, lp('pw-secret')), 'password flag without user name', 4);
  const v31 = packet(0x10, [0x00, 0x06, 0x4d, 0x51, 0x49, 0x73, 0x64, 0x70, 0x03, 0x42, 0x00, 0x0a, ...lp('id'), ...lp('pw-secret')]);
  assertMalformed(v31, 'password flag without user name', 3);
  // mqtt-packet alone accepts a 3.1.1 password without user name: this check is ours.
  assert.is(mqttPacketParse(body(4, 0x42, lp('pw-secret')), 4).error, undefined);
  // mqtt-packet alone accepts will QoS 3 too.
  assert.is(mqttPacketParse(body(4, 0x1e, will), 4).error, undefined);
});

// ---- lengths inside the packet ----

test('Remaining Length longer than the content: malformed (mqtt-packet alone would accept it)', () => {
  for (const f of smallFixtures) {
    const { body } = splitPacket(f.bytes);
    const longer = withRemainingLength(Buffer.concat([f.bytes, Buffer.from([0x00])]), body.length + 1);
    assertMalformed(longer, '1 bytes after the last CONNECT field', f.expected.protocolLevel);
    assert.is(mqttPacketParse(longer, f.expected.protocolLevel).error, undefined, `mqtt-packet accepts ${f.name}`);
    // Declared longer and the extra bytes not here yet: wait; a following PINGREQ then gets swallowed.
    const claimsMore = withRemainingLength(f.bytes, body.length + 2);
    assert.is(readConnect(claimsMore, maxBytes).kind, 'need-more');
    assertMalformed(Buffer.concat([claimsMore, pingreq]), 'bytes after the last CONNECT field', f.expected.protocolLevel);
  }
});

test('Remaining Length shorter than the content (fields run past the packet): malformed', () => {
  for (const f of smallFixtures) {
    const { body } = splitPacket(f.bytes);
    for (const shorter of [1, 2]) {
      const bytes = withRemainingLength(f.bytes, body.length - shorter);
      const r = readConnect(bytes, maxBytes);
      assert.is(r.kind, 'malformed', `${f.name} -${shorter}: ${JSON.stringify(r)}`);
      assertNoPassword(r, f.name);
    }
  }
  // A client id length that points past the end.
  assertMalformed(packet(0x10, [...mqttVariableHeader(4, 0x02), 0x00, 0x09, 0x61]), 'client id runs past the packet', 4);
  // Keep alive cut.
  assertMalformed(packet(0x10, [...mqttVariableHeader(4, 0x02)].slice(0, 9)), 'keep alive runs past', 4);
});

// ---- MQTT 5 properties ----

const v5 = (props: number[], rest: number[] = lp('id'), flags = 0x02) =>
  packet(0x10, [...mqttVariableHeader(5, flags), props.length, ...props, ...rest]);

test('MQTT 5: a property given twice is malformed (mqtt-packet alone makes an array); user properties may repeat', () => {
  const twice = v5([0x11, 0, 0, 0, 10, 0x11, 0, 0, 0, 20]);
  assertMalformed(twice, 'property 0x11 given twice in CONNECT', 5);
  assert.is(mqttPacketParse(twice, 5).error, undefined);
  assertMalformed(v5([0x21, 0, 5, 0x21, 0, 6]), 'property 0x21 given twice', 5);
  const userTwice = v5([0x26, ...lp('k'), ...lp('1'), 0x26, ...lp('k'), ...lp('2')]);
  assert.is(readConnect(userTwice, maxBytes).kind, 'complete');
  // Will properties, same rule.
  const willTwice = v5([], [...lp('id'), 4, 0x01, 1, 0x01, 0, ...lp('t'), ...lp('p')], 0x06);
  assertMalformed(willTwice, 'property 0x01 given twice in will', 5);
});

test('MQTT 5: properties not valid for CONNECT / will, unknown ids, and bad property lengths are malformed', () => {
  assertMalformed(v5([0x01, 1]), 'property 0x01 not allowed in CONNECT', 5); // Payload Format Indicator belongs to the will
  assertMalformed(v5([0x23, 0, 1]), 'property 0x23 not allowed in CONNECT', 5); // Topic Alias
  assertMalformed(v5([0x7f, 0]), 'property 0x7f not allowed', 5);
  assertMalformed(v5([0x00]), 'property 0x00 not allowed', 5);
  assertMalformed(v5([], [...lp('id'), 2, 0x11, 0, ...lp('t'), ...lp('p')], 0x06), 'property 0x11 not allowed in will', 5);
  // Property value longer than the declared property length (mqtt-packet would read into the client id).
  assertMalformed(packet(0x10, [...mqttVariableHeader(5, 0x02), 2, 0x11, 0, 0, 0, 0, ...lp('id')]), 'runs past its property length', 5);
  assertMalformed(packet(0x10, [...mqttVariableHeader(5, 0x02), 3, 0x15, 0, 5, ...lp('id')]), 'runs past its property length', 5);
  // Property length past the packet, and a non-minimal property length.
  assertMalformed(packet(0x10, [...mqttVariableHeader(5, 0x02), 100, ...lp('id')]), 'properties run past the packet', 5);
  assertMalformed(packet(0x10, [...mqttVariableHeader(5, 0x02), 0x80, 0x00, ...lp('id')]), 'not minimally encoded', 5);
  assertMalformed(packet(0x10, [...mqttVariableHeader(5, 0x02)]), 'property length runs past the packet', 5);
  // Invalid UTF-8 in a string property.
  assertMalformed(v5([0x15, 0, 2, 0xc3, 0x28]), 'property 0x15 is not valid UTF-8', 5);
});

// ---- UTF-8 ----

test('ill-formed UTF-8 or U+0000 in client id, user name or will topic is malformed (mqtt-packet alone accepts it)', () => {
  const badStrings = [[0xff, 0xfe], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0x61, 0x00, 0x62], [0xe2, 0x82]];
  for (const bad of badStrings) {
    const clientId = packet(0x10, [...mqttVariableHeader(4, 0x02), ...lp(bad)]);
    assertMalformed(clientId, 'client id is not valid UTF-8', 4);
    assert.is(mqttPacketParse(clientId, 4).error, undefined);
    assertMalformed(packet(0x10, [...mqttVariableHeader(4, 0x82), ...lp('id'), ...lp(bad)]), 'user name is not valid UTF-8', 4);
    assertMalformed(packet(0x10, [...mqttVariableHeader(4, 0x06), ...lp('id'), ...lp(bad), ...lp('p')]), 'will topic is not valid UTF-8', 4);
  }
  // The will payload and password are binary: any bytes are fine there.
  const binary = packet(0x10, [...mqttVariableHeader(4, 0xc6), ...lp('id'), ...lp('t'), ...lp([0xff, 0x00]), ...lp('u'), ...lp([0xff, 0x00])]);
  assert.is(readConnect(binary, maxBytes).kind, 'complete');
});

// ---- no secrets ----

test('the password never appears in any result, for any cut or mutation of the fixtures', () => {
  for (const f of validConnects.filter((x) => x.password !== undefined && x !== bigFixture)) {
    for (let cut = 0; cut <= f.bytes.length; cut++) assertNoPassword(readConnect(f.bytes.subarray(0, cut), maxBytes), f.name);
    for (let pos = 0; pos < f.bytes.length; pos++) {
      const bytes = Buffer.from(f.bytes);
      bytes[pos] ^= 0x41;
      assertNoPassword(readConnect(bytes, maxBytes), `${f.name} flip ${pos}`);
      assertNoPassword(readConnect(bytes, 20), `${f.name} flip ${pos} small cap`);
    }
  }
});

// ---- fuzz ----

// mulberry32: small seeded PRNG so a failure replays.
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(source: Buffer, random: () => number): Buffer {
  let bytes: Buffer = Buffer.from(source);
  const int = (n: number) => Math.floor(random() * n);
  const edits = 1 + int(4);
  for (let e = 0; e < edits && bytes.length > 0; e++) {
    const pos = int(bytes.length);
    switch (int(6)) {
      case 0: bytes[pos] = int(256); break;
      case 1: bytes[pos] ^= 1 << int(8); break;
      case 2: bytes = Buffer.concat([bytes.subarray(0, pos), Buffer.from([int(256)]), bytes.subarray(pos)]); break;
      case 3: bytes = Buffer.concat([bytes.subarray(0, pos), bytes.subarray(pos + 1)]); break;
      case 4: bytes[Math.min(bytes.length - 1, 1 + int(12))] = int(256); break; // the header and flags area
      case 5: bytes = withRemainingLength(bytes.length > 2 ? bytes : source, Math.max(0, splitPacket(source).body.length + int(7) - 3)); break;
    }
  }
  return bytes;
}

test('fuzz: 2000 seeded mutations never throw, never complete what mqtt-packet rejects, never depend on the cut', () => {
  const random = prng(0x5eed);
  const verdicts = new Map<string, number>();
  let completes = 0;
  for (let i = 0; i < 2000; i++) {
    const f = smallFixtures[Math.floor(random() * smallFixtures.length)];
    const bytes = mutate(f.bytes, random);
    const cap = random() < 0.2 ? 16 + Math.floor(random() * f.bytes.length) : maxBytes;
    let r: ConnectReadResult;
    try {
      r = readConnect(bytes, cap);
    } catch (err) {
      assert.unreachable(`case ${i} threw ${(err as Error).message} on ${bytes.toString('hex')}`);
      return;
    }
    verdicts.set(r.kind, (verdicts.get(r.kind) ?? 0) + 1);
    assertNoPassword(r, `case ${i}`);
    if (r.kind === 'complete') {
      completes++;
      const parsed = mqttPacketParse(bytes.subarray(0, r.packetBytes), r.connect.protocolLevel);
      assert.is(parsed.error, undefined, `case ${i}: complete but mqtt-packet rejects ${bytes.toString('hex')}`);
      assert.is(parsed.packets.length, 1);
      const p = parsed.packets[0];
      if (p.cmd !== 'connect') return assert.unreachable('not a connect');
      assert.is(r.connect.clientId, p.clientId);
      assert.is(r.connect.username, p.username);
      assert.is(r.connect.hasPassword, p.password !== undefined);
    }
    // The verdict never depends on where TCP cut: a prefix gives need-more or the same verdict.
    for (let k = 0; k < 4; k++) {
      const cut = Math.floor(random() * bytes.length);
      const pr = readConnect(bytes.subarray(0, cut), cap);
      if (pr.kind !== 'need-more') assert.equal(pr, r, `case ${i} cut ${cut} of ${bytes.toString('hex')}`);
    }
  }
  // The mutations reach every verdict, so the checks above were exercised.
  for (const kind of ['need-more', 'not-connect', 'too-large', 'unsupported-protocol', 'malformed', 'complete']) {
    assert.ok((verdicts.get(kind) ?? 0) > 0, `no ${kind} verdict in the fuzz: ${JSON.stringify([...verdicts])}`);
  }
  assert.ok(completes > 0);
});

test.run();
