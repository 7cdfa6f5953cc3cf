// Seeded corpus of first packets for the CONNECT split-invariance property (test/mqtt/connect-reader,
// test/e2e/connect-splits, `npm run fuzz`): valid MQTT 3.1, 3.1.1 and 5.0 CONNECTs with every kind of
// field (generated with mqtt-packet), some followed by more packets, and mutated, truncated and hostile
// variants of them. The same seed gives the same inputs everywhere.
import { Buffer } from 'node:buffer';
import mqtt from 'mqtt-packet';
import type { IConnectPacket } from 'mqtt-packet';
import { mulberry32 } from '../helpers/random.ts';
import { encodeVarint, splitPacket, withRemainingLength } from '../fixtures/mqtt/connects.ts';

export type CorpusInput = { index: number; kind: string; bytes: Buffer };

type Random = () => number;
const int = (r: Random, n: number) => Math.floor(r() * n);
const pick = <T>(r: Random, items: readonly T[]): T => items[int(r, items.length)];
const chance = (r: Random, p: number) => r() < p;

const alphabet = ['a', 'Z', '0', '/', '-', '_', ' ', '+', '#', 'é', 'ü', '中', '😀'];

function text(r: Random, maxChars: number): string {
  let s = '';
  const n = int(r, maxChars + 1);
  for (let i = 0; i < n; i++) s += pick(r, alphabet);
  return s;
}

function bytes(r: Random, max: number): Buffer {
  const b = Buffer.alloc(int(r, max + 1));
  for (let i = 0; i < b.length; i++) b[i] = int(r, 256);
  return b;
}

function userProperties(r: Random): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const n = 1 + int(r, 3);
  for (let i = 0; i < n; i++) out[`k${i}${text(r, 3)}`] = chance(r, 0.3) ? [text(r, 4), text(r, 4)] : text(r, 6);
  return out;
}

/** A valid CONNECT with a random mix of the fields its version allows. */
export function validConnect(r: Random): Buffer {
  const v = pick(r, [3, 4, 5] as const);
  // An empty client id only where MQTT allows it (3.1.1 and 5.0, clean session): mqtt-packet refuses the rest.
  const clientId = v !== 3 && chance(r, 0.1) ? '' : text(r, 24) || 'c';
  const packet: IConnectPacket = {
    cmd: 'connect', protocolId: v === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: v,
    clientId, clean: clientId === '' || chance(r, 0.7), keepalive: int(r, 65_536),
  };
  if (chance(r, 0.5)) packet.username = text(r, 10);
  if (packet.username !== undefined && chance(r, 0.6)) packet.password = chance(r, 0.5) ? Buffer.from(`pw-${text(r, 8)}`) : bytes(r, 12);
  if (chance(r, 0.35)) {
    packet.will = { topic: text(r, 16) || 't', payload: bytes(r, 40), qos: pick(r, [0, 1, 2] as const), retain: chance(r, 0.3) };
    if (v === 5 && chance(r, 0.6)) {
      packet.will.properties = {
        ...(chance(r, 0.5) ? { willDelayInterval: int(r, 1000) } : {}),
        ...(chance(r, 0.4) ? { payloadFormatIndicator: chance(r, 0.5) } : {}),
        ...(chance(r, 0.4) ? { messageExpiryInterval: int(r, 100_000) } : {}),
        ...(chance(r, 0.3) ? { contentType: text(r, 10) } : {}),
        ...(chance(r, 0.3) ? { responseTopic: text(r, 10) || 'r' } : {}),
        ...(chance(r, 0.3) ? { correlationData: bytes(r, 8) } : {}),
        ...(chance(r, 0.3) ? { userProperties: userProperties(r) } : {}),
      };
    }
  }
  if (v === 5 && chance(r, 0.6)) {
    packet.properties = {
      ...(chance(r, 0.5) ? { sessionExpiryInterval: int(r, 100_000) } : {}),
      ...(chance(r, 0.3) ? { receiveMaximum: 1 + int(r, 65_535) } : {}),
      ...(chance(r, 0.3) ? { maximumPacketSize: 1 + int(r, 1 << 20) } : {}),
      ...(chance(r, 0.3) ? { topicAliasMaximum: int(r, 100) } : {}),
      ...(chance(r, 0.2) ? { requestResponseInformation: chance(r, 0.5) } : {}),
      ...(chance(r, 0.2) ? { requestProblemInformation: chance(r, 0.5) } : {}),
      ...(chance(r, 0.3) ? { userProperties: userProperties(r) } : {}),
      ...(chance(r, 0.15) ? { authenticationMethod: text(r, 8) || 'm', authenticationData: bytes(r, 8) } : {}),
    };
  }
  return mqtt.generate(packet, { protocolVersion: v });
}

/** What a client may send right behind its CONNECT, in the same segment or the next. */
function followers(r: Random): Buffer {
  const parts: Buffer[] = [];
  const n = 1 + int(r, 3);
  for (let i = 0; i < n; i++) {
    switch (int(r, 4)) {
      case 0: parts.push(mqtt.generate({ cmd: 'publish', topic: text(r, 10) || 'p', payload: bytes(r, 60), qos: 0, retain: false, dup: false })); break;
      case 1: parts.push(Buffer.from([0xc0, 0x00])); break; // PINGREQ
      case 2: parts.push(mqtt.generate({ cmd: 'subscribe', messageId: 1 + int(r, 1000), subscriptions: [{ topic: text(r, 8) || 's', qos: 1 }] })); break;
      case 3: parts.push(bytes(r, 30)); break; // anything: Sluice does not parse past CONNECT
    }
  }
  return Buffer.concat(parts);
}

function mutate(source: Buffer, r: Random): Buffer {
  let b: Buffer = Buffer.from(source);
  const edits = 1 + int(r, 4);
  for (let e = 0; e < edits && b.length > 0; e++) {
    const pos = int(r, b.length);
    switch (int(r, 7)) {
      case 0: b[pos] = int(r, 256); break;
      case 1: b[pos] ^= 1 << int(r, 8); break;
      case 2: b = Buffer.concat([b.subarray(0, pos), Buffer.from([int(r, 256)]), b.subarray(pos)]); break;
      case 3: b = Buffer.concat([b.subarray(0, pos), b.subarray(pos + 1)]); break;
      case 4: b[Math.min(b.length - 1, 1 + int(r, 14))] = int(r, 256); break; // header, name, level, flags
      case 5: b = withRemainingLength(b.length > 2 ? b : source, Math.max(0, splitPacket(source).body.length + int(r, 9) - 4)); break;
      case 6: b[Math.min(b.length - 1, 2 + int(r, 8))] = pick(r, [0, 3, 4, 5, 6, 0x83, 0x84, 0x85, 0xff]); break; // levels and names
    }
  }
  return b;
}

/** A header that announces a CONNECT larger than any cap, with a valid start (or not). */
function hugeAnnounce(r: Random): Buffer {
  const name = chance(r, 0.5) ? [0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, pick(r, [4, 5])] : [0x00, 0x06, 0x4d, 0x51, 0x49, 0x73, 0x64, 0x70, 3];
  const announced = pick(r, [70_000, 1 << 20, 256 * 1024 * 1024, 268_435_455]);
  return Buffer.concat([Buffer.from([0x10]), encodeVarint(announced), Buffer.from(name), Buffer.from([0x02, 0x00, 0x1e]), bytes(r, 20)]);
}

/** Input `index` of the corpus for `seed`: the same pair always gives the same bytes. */
export function corpusInput(seed: number, index: number): CorpusInput {
  const r = mulberry32((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  const roll = r();
  let kind: string;
  let out: Buffer;
  if (roll < 0.30) {
    kind = 'valid';
    out = validConnect(r);
  } else if (roll < 0.45) {
    kind = 'valid+more';
    out = Buffer.concat([validConnect(r), followers(r)]);
  } else if (roll < 0.80) {
    kind = 'mutated';
    out = mutate(chance(r, 0.3) ? Buffer.concat([validConnect(r), followers(r)]) : validConnect(r), r);
  } else if (roll < 0.90) {
    kind = 'truncated';
    const whole = validConnect(r);
    out = whole.subarray(0, int(r, whole.length));
  } else if (roll < 0.95) {
    kind = 'huge-announce';
    out = hugeAnnounce(r);
  } else {
    kind = 'random';
    out = bytes(r, 40);
  }
  return { index, kind, bytes: out };
}

/** Ways to cut one input into segments, as TCP might: whole, byte by byte, and `randomCuts` random ones. */
export function splitsOf(bytes: Buffer, r: Random, randomCuts: number): { name: string; pieces: Buffer[] }[] {
  const out = [
    { name: 'whole', pieces: [bytes] },
    { name: 'byte-by-byte', pieces: [...bytes].map((_, i) => bytes.subarray(i, i + 1)) },
  ];
  for (let k = 0; k < randomCuts && bytes.length > 1; k++) {
    const cuts = new Set<number>();
    const n = 1 + int(r, 3);
    for (let i = 0; i < n; i++) cuts.add(1 + int(r, bytes.length - 1));
    const sorted = [...cuts].sort((a, b) => a - b);
    const pieces: Buffer[] = [];
    let at = 0;
    for (const c of sorted) { pieces.push(bytes.subarray(at, c)); at = c; }
    pieces.push(bytes.subarray(at));
    out.push({ name: `cut@${sorted.join(',')}`, pieces });
  }
  return out;
}
