// Reads a broker's first packet, its CONNACK: whether it refused the client for a reason that is the
// broker's (passive health counts it against the broker), and an MQTT 5 Assigned Client Identifier
// (CONNACK property 0x12, MQTT 5.0 §3.2.2.3.7): a client that connected with an empty client id learns its
// id there, and Sluice pins that id to the broker that gave it, so the client's reconnect finds its session.
import mqttPacket from 'mqtt-packet';
import { readFixedHeader } from './frame.ts';

export type ConnackRead =
  | { kind: 'assigned'; clientId: string } // a CONNACK that accepted the client and named its id
  | { kind: 'none' } // a CONNACK without one (or refusing the client)
  | { kind: 'need-more' } // the packet is not whole in these bytes
  | { kind: 'invalid'; reason: string }; // not a CONNACK, or one that does not parse

/** `bytes`: the start of what the broker sent (MQTT 5). Only the first packet is read. */
export function readAssignedClientId(bytes: Uint8Array): ConnackRead {
  const h = readFixedHeader(bytes);
  if (h.kind === 'need-more') return { kind: 'need-more' };
  if (h.kind === 'invalid') return { kind: 'invalid', reason: h.reason };
  if (h.header.type !== 2) return { kind: 'invalid', reason: `first packet is type ${h.header.type}, not CONNACK` };
  if (bytes.length < h.header.packetBytes) return { kind: 'need-more' };
  let packet: mqttPacket.IConnackPacket | undefined;
  let error: string | undefined;
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  parser.on('packet', (p) => { packet ??= p as mqttPacket.IConnackPacket; });
  parser.on('error', (e: Error) => { error ??= e.message; });
  parser.parse(Buffer.from(bytes.buffer, bytes.byteOffset, h.header.packetBytes));
  if (error !== undefined || packet === undefined) return { kind: 'invalid', reason: error ?? 'CONNACK did not parse' };
  const id = packet.properties?.assignedClientIdentifier;
  return (packet.reasonCode ?? 0) === 0 && typeof id === 'string' && id !== '' ? { kind: 'assigned', clientId: id } : { kind: 'none' };
}

/**
 * Codes that refuse for the broker's own state, not the client's (passive health counts them):
 * MQTT 3.1.1 §3.2.2.3 0x03 Server unavailable; MQTT 5.0 §3.2.2.2 0x88 Server unavailable, 0x89 Server busy,
 * 0x97 Quota exceeded, 0x9F Connection rate exceeded. A 3.1.1 return code is 0..5 and a 5.0 refusal is
 * 0x80 or more, so one set serves both versions. Credentials, client id or protocol refusals say nothing
 * of the broker.
 */
const brokerRefusalCodes = new Set([0x03, 0x88, 0x89, 0x97, 0x9f]);

export function isBrokerRefusal(code: number): boolean {
  return brokerRefusalCodes.has(code);
}

/**
 * `bytes`: the start of what the broker sent (any MQTT version). Its CONNACK's return / reason code, or
 * -1 (not a CONNACK, or the code is not in these bytes). The code sits right after the fixed header and
 * the acknowledge flags byte (3.1.1 §3.2, 5.0 §3.2), so the rest of the packet is not needed.
 */
export function connackCode(bytes: Uint8Array): number {
  const h = readFixedHeader(bytes);
  if (h.kind !== 'header' || h.header.type !== 2 || h.header.remainingLength < 2) return -1;
  const at = h.header.headerBytes + 1;
  return at < bytes.length ? bytes[at] : -1;
}
