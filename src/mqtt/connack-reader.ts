// Reads a broker's first packet for an MQTT 5 Assigned Client Identifier (CONNACK property 0x12,
// MQTT 5.0 §3.2.2.3.7): a client that connected with an empty client id learns its id there, and Sluice
// pins that id to the broker that gave it, so the client's reconnect with it finds its session.
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
