// Reads a client's first packet: a complete, valid CONNECT (3.1, 3.1.1 or 5.0), from a buffer that may hold less or more.
import { Buffer, isUtf8 } from 'node:buffer';
import { readFixedHeader, readVarint } from './frame.ts';

export type ConnectInfo = {
  protocolName: string; // 'MQTT' or 'MQIsdp'
  protocolLevel: 3 | 4 | 5; // 3 = MQTT 3.1, 4 = 3.1.1, 5 = 5.0
  clientId: string; // may be '' (3.1.1 with clean session; 5.0: the broker assigns one)
  username: string | undefined;
  hasPassword: boolean; // the password itself is never exposed
  cleanStart: boolean;
  keepaliveSec: number;
};

export type ConnectReadResult =
  | { kind: 'need-more' }
  | { kind: 'not-connect'; packetType: number }
  | { kind: 'too-large'; packetBytes: number; protocolLevel: number | undefined }
  | { kind: 'unsupported-protocol'; protocolName: string; protocolLevel: number }
  | { kind: 'malformed'; reason: string; protocolLevel: number | undefined }
  | { kind: 'complete'; connect: ConnectInfo; packetBytes: number }; // buf[0, packetBytes) is the CONNECT

const needMore: ConnectReadResult = { kind: 'need-more' };
const connectPacketType = 1;
const mqttName = [0x4d, 0x51, 0x54, 0x54]; // 'MQTT' (3.1.1 §3.1.2.1, 5.0 §3.1.2.1)
const mqisdpName = [0x4d, 0x51, 0x49, 0x73, 0x64, 0x70]; // 'MQIsdp' (MQTT 3.1)

// Connect Flags bits (3.1.1 §3.1.2.3, 5.0 §3.1.2.3).
const flagReserved = 0x01;
const flagCleanStart = 0x02;
const flagWill = 0x04;
const flagWillQos = 0x18;
const flagWillRetain = 0x20;
const flagPassword = 0x40;
const flagUsername = 0x80;

// A fixed-position byte we could not read: past the declared packet end, or not received yet.
const pastPacket = -1;
const notReceived = -2;

function byteAt(buf: Uint8Array, pos: number, packetBytes: number): number {
  if (pos >= packetBytes) return pastPacket;
  if (pos >= buf.length) return notReceived;
  return buf[pos];
}

function malformed(reason: string, protocolLevel: number | undefined): ConnectReadResult {
  return { kind: 'malformed', reason, protocolLevel };
}

function unreadable(missing: number, protocolLevel: number | undefined): ConnectReadResult {
  return missing === notReceived ? needMore : malformed('remaining length too short for the CONNECT variable header', protocolLevel);
}

/**
 * Reads the CONNECT at buf[0]. buf holds what the client has sent so far: possibly a prefix of the
 * CONNECT (TCP splits anywhere), possibly the CONNECT followed by further packets.
 * Verdicts come in byte order, each from bytes at fixed positions, so a verdict never depends on where
 * TCP split the stream and every strict prefix of a valid CONNECT gives need-more:
 *   byte 0 (not-connect, fixed-header flags) -> Remaining Length -> protocol name -> protocol level
 *   (unsupported-protocol) -> size cap (too-large, reported with the level) -> Connect Flags -> the rest
 *   once all packetBytes are here (field lengths, properties, UTF-8, exact length).
 * Until the whole CONNECT is here the work is O(1) per call (a dozen header bytes), so calling again with
 * the grown buffer on every TCP segment is cheap; the full check runs once.
 * On 'complete', buf[0, packetBytes) is the CONNECT; anything after it is the caller's to forward.
 */
export function readConnect(buf: Uint8Array, maxConnectBytes: number): ConnectReadResult {
  if (buf.length === 0) return needMore;
  const packetType = buf[0] >> 4;
  if (packetType !== connectPacketType) return { kind: 'not-connect', packetType };
  // CONNECT's fixed-header flags are reserved as 0000 [MQTT-2.2.2-1], 5.0 §2.1.3.
  if ((buf[0] & 0x0f) !== 0) return malformed('CONNECT fixed-header flags not 0', undefined);
  const frame = readFixedHeader(buf);
  if (frame.kind === 'need-more') return needMore;
  if (frame.kind === 'invalid') return malformed(frame.reason, undefined);
  const { headerBytes, packetBytes } = frame.header;

  // Protocol Name: a 2-byte length then 'MQTT' or 'MQIsdp', checked byte by byte so garbage fails early.
  const lengthHigh = byteAt(buf, headerBytes, packetBytes);
  if (lengthHigh < 0) return unreadable(lengthHigh, undefined);
  if (lengthHigh !== 0) return malformed('protocol name is not MQTT or MQIsdp', undefined);
  const nameBytes = byteAt(buf, headerBytes + 1, packetBytes);
  if (nameBytes < 0) return unreadable(nameBytes, undefined);
  const name = nameBytes === mqttName.length ? mqttName : nameBytes === mqisdpName.length ? mqisdpName : undefined;
  if (name === undefined) return malformed('protocol name is not MQTT or MQIsdp', undefined);
  for (let i = 0; i < name.length; i++) {
    const b = byteAt(buf, headerBytes + 2 + i, packetBytes);
    if (b < 0) return unreadable(b, undefined);
    if (b !== name[i]) return malformed('protocol name is not MQTT or MQIsdp', undefined);
  }
  const protocolName = name === mqttName ? 'MQTT' : 'MQIsdp';

  // Protocol Level: 'MQIsdp' goes with 3, 'MQTT' with 4 or 5 (as brokers pair them). Anything else,
  // bridge bit 0x80 included, is a version we do not speak: the server answers 0x01 / 0x84.
  const levelPos = headerBytes + 2 + name.length;
  const level = byteAt(buf, levelPos, packetBytes);
  if (level < 0) return unreadable(level, undefined);
  if (name === mqttName ? level !== 4 && level !== 5 : level !== 3) {
    return { kind: 'unsupported-protocol', protocolName, protocolLevel: level };
  }
  const protocolLevel = level as 3 | 4 | 5;

  if (packetBytes > maxConnectBytes) return { kind: 'too-large', packetBytes, protocolLevel };

  const flags = byteAt(buf, levelPos + 1, packetBytes);
  if (flags < 0) return unreadable(flags, protocolLevel);
  const flagsProblem = connectFlagsProblem(flags, protocolLevel);
  if (flagsProblem !== undefined) return malformed(flagsProblem, protocolLevel);

  if (buf.length < packetBytes) return needMore;

  const packet = Buffer.from(buf.buffer, buf.byteOffset, packetBytes);
  const fields: ConnectFields = { clientId: '', username: undefined };
  const structureProblem = walkConnect(packet, levelPos + 1, flags, protocolLevel, fields);
  if (structureProblem !== undefined) return malformed(structureProblem, protocolLevel);
  return {
    kind: 'complete',
    connect: {
      protocolName,
      protocolLevel,
      clientId: fields.clientId,
      username: fields.username,
      hasPassword: (flags & flagPassword) !== 0,
      cleanStart: (flags & flagCleanStart) !== 0,
      keepaliveSec: (packet[levelPos + 2] << 8) | packet[levelPos + 3],
    },
    packetBytes,
  };
}

/** Connect Flags rules that need no other byte. Returns the problem, or undefined when the flags are fine. */
function connectFlagsProblem(flags: number, protocolLevel: 3 | 4 | 5): string | undefined {
  if (flags & flagReserved) return 'reserved connect flag set'; // [MQTT-3.1.2-3], 5.0 §3.1.2.3
  const willQos = (flags & flagWillQos) >> 3;
  if (willQos === 3) return 'will QoS 3'; // [MQTT-3.1.2-14], 5.0 §3.1.2.6
  if ((flags & flagWill) === 0 && (willQos !== 0 || (flags & flagWillRetain) !== 0)) {
    return 'will QoS or retain set without the will flag'; // [MQTT-3.1.2-13], [MQTT-3.1.2-15]
  }
  // 3.1.1 forbids a password without a user name [MQTT-3.1.2-22]; brokers apply it to 3.1 too; 5.0 allows it.
  if (protocolLevel !== 5 && (flags & flagPassword) !== 0 && (flags & flagUsername) === 0) {
    return 'password flag without user name flag';
  }
  return undefined;
}

// ---- The whole-packet walk: validates every field and reads the ones placement needs ----
// Stricter than mqtt-packet 9 (the reference in the tests), which ignores bytes left over after the last
// field, accepts any known property in CONNECT and the same property twice (it makes an array), does not
// bound properties by their declared length, and decodes ill-formed UTF-8 with U+FFFD instead of refusing
// it. Like HAProxy's mqtt.c: every field inside the packet, properties valid for CONNECT / the will and
// given once, strings well-formed UTF-8 without U+0000, and the last field ending exactly at packetBytes.
// The one walk also reads the client id and user name, so a CONNECT is parsed once; the password is only
// skipped, never decoded.

type PropertyType = 'byte' | 'u16' | 'u32' | 'string' | 'binary' | 'pair';

const userPropertyId = 0x26; // the one property that may repeat (5.0 §3.1.2.11.8)

// CONNECT properties, 5.0 §3.1.2.11.
const connectProperties = new Map<number, PropertyType>([
  [0x11, 'u32'], // Session Expiry Interval
  [0x21, 'u16'], // Receive Maximum
  [0x27, 'u32'], // Maximum Packet Size
  [0x22, 'u16'], // Topic Alias Maximum
  [0x19, 'byte'], // Request Response Information
  [0x17, 'byte'], // Request Problem Information
  [userPropertyId, 'pair'],
  [0x15, 'string'], // Authentication Method
  [0x16, 'binary'], // Authentication Data
]);

// Will properties, 5.0 §3.1.3.2.
const willProperties = new Map<number, PropertyType>([
  [0x18, 'u32'], // Will Delay Interval
  [0x01, 'byte'], // Payload Format Indicator
  [0x02, 'u32'], // Message Expiry Interval
  [0x03, 'string'], // Content Type
  [0x08, 'string'], // Response Topic
  [0x09, 'binary'], // Correlation Data
  [userPropertyId, 'pair'],
]);

const fixedPropertyBytes: Record<string, number> = { byte: 1, u16: 2, u32: 4 };

type Cursor = { buf: Buffer; pos: number; end: number };

/** The string fields the walk reads out (the rest of ConnectInfo comes from fixed positions). */
type ConnectFields = { clientId: string; username: string | undefined };

/**
 * Skips a 2-byte-length-prefixed field (UTF-8 string or binary data, 3.1.1 §1.5.3, 5.0 §1.5.4/§1.5.6)
 * at c.pos. Returns the problem or undefined; on success c.pos is past the field.
 */
function skipLengthPrefixed(c: Cursor, what: string, utf8: boolean): string | undefined {
  const start = c.pos + 2;
  const end = start > c.end ? start : start + ((c.buf[c.pos] << 8) | c.buf[c.pos + 1]);
  if (end > c.end) return `${what} runs past ${c.end === c.buf.length ? 'the packet' : 'its property length'}`;
  c.pos = end;
  if (utf8 && start < end) {
    // Ill-formed UTF-8 and U+0000 must close the connection [MQTT-1.5.3-1], [MQTT-1.5.3-2]; in valid
    // UTF-8 a 0x00 byte can only be U+0000.
    const text = c.buf.subarray(start, end);
    if (!isUtf8(text) || text.indexOf(0) !== -1) return `${what} is not valid UTF-8`;
  }
  return undefined;
}

/** Walks an MQTT 5 property list (5.0 §2.2.2) at c.pos. Returns the problem or undefined. */
function skipProperties(c: Cursor, allowed: Map<number, PropertyType>, where: string): string | undefined {
  const length = readVarint(c.buf, c.pos, c.end);
  if (length.kind === 'need-more') return `${where} property length runs past the packet`;
  if (length.kind === 'invalid') return `${where} property length: ${length.reason}`;
  const propertiesEnd = c.pos + length.bytes + length.value;
  if (propertiesEnd > c.end) return `${where} properties run past the packet`;
  c.pos += length.bytes;
  const outerEnd = c.end;
  c.end = propertiesEnd; // a property must end inside the declared property length
  let seen: Set<number> | undefined;
  while (c.pos < propertiesEnd) {
    // Identifiers are varints, but every defined one is below 0x80: a byte >= 0x80 is no allowed id.
    const id = c.buf[c.pos++];
    const type = allowed.get(id);
    const hex = `0x${id.toString(16).padStart(2, '0')}`;
    // An identifier not valid for the packet is a Malformed Packet (5.0 §2.2.2.2).
    if (type === undefined) return `property ${hex} not allowed in ${where}`;
    if (id !== userPropertyId) {
      seen ??= new Set();
      if (seen.has(id)) return `property ${hex} given twice in ${where}`; // a Protocol Error, 5.0 §3.1.2.11
      seen.add(id);
    }
    let problem: string | undefined;
    if (type === 'string') problem = skipLengthPrefixed(c, `property ${hex}`, true);
    else if (type === 'binary') problem = skipLengthPrefixed(c, `property ${hex}`, false);
    else if (type === 'pair') problem = skipLengthPrefixed(c, `property ${hex} name`, true) ?? skipLengthPrefixed(c, `property ${hex} value`, true);
    else if (c.pos + fixedPropertyBytes[type] > c.end) problem = `property ${hex} runs past its property length`;
    else c.pos += fixedPropertyBytes[type];
    if (problem !== undefined) return problem;
  }
  c.end = outerEnd;
  return undefined;
}

/**
 * Walks the CONNECT from the Connect Flags byte (at flagsPos) to the end: keep alive, 5.0 properties,
 * client id, will (properties, topic, payload), user name, password (3.1.1 §3.1.2-§3.1.3, 5.0 §3.1.2-§3.1.3).
 * packet is exactly the CONNECT. Fills `out` with the client id and user name. Returns the problem, or
 * undefined when every field fits and the last one ends exactly at the end of the packet.
 */
function walkConnect(packet: Buffer, flagsPos: number, flags: number, protocolLevel: 3 | 4 | 5, out: ConnectFields): string | undefined {
  const c: Cursor = { buf: packet, pos: flagsPos + 3, end: packet.length }; // flags byte + 2-byte keep alive
  if (c.pos > c.end) return 'keep alive runs past the packet';
  let problem: string | undefined;
  if (protocolLevel === 5) problem = skipProperties(c, connectProperties, 'CONNECT');
  if (problem !== undefined) return problem;
  let start = c.pos + 2;
  problem = skipLengthPrefixed(c, 'client id', true);
  if (problem !== undefined) return problem;
  out.clientId = packet.toString('utf8', start, c.pos);
  if (flags & flagWill) {
    if (protocolLevel === 5) problem = skipProperties(c, willProperties, 'will');
    problem ??= skipLengthPrefixed(c, 'will topic', true);
    problem ??= skipLengthPrefixed(c, 'will payload', false);
    if (problem !== undefined) return problem;
  }
  if (flags & flagUsername) {
    start = c.pos + 2;
    problem = skipLengthPrefixed(c, 'user name', true);
    if (problem !== undefined) return problem;
    out.username = packet.toString('utf8', start, c.pos);
  }
  if (flags & flagPassword) problem = skipLengthPrefixed(c, 'password', false);
  if (problem !== undefined) return problem;
  // The packet is valid only if its fields use exactly the Remaining Length (as HAProxy and mosquitto check).
  if (c.pos !== packet.length) return `${packet.length - c.pos} bytes after the last CONNECT field`;
  return undefined;
}
