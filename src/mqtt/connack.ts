// Refusal CONNACKs Sluice sends before closing a client: reason codes per MQTT version, bytes built once.
import type { Buffer } from 'node:buffer';
import mqtt from 'mqtt-packet';

export type Refusal =
  | 'unsupported-protocol'
  | 'malformed'
  | 'too-large'
  | 'server-unavailable'
  | 'server-busy'
  | 'quota-exceeded'
  | 'connection-rate-exceeded'
  | 'client-id-rejected'
  | 'internal-error';

// MQTT 5.0 §3.2.2.2 Connect Reason Codes.
const v5ReasonCodes: Record<Refusal, number> = {
  'unsupported-protocol': 0x84, // Unsupported Protocol Version
  malformed: 0x81, // Malformed Packet
  'too-large': 0x95, // Packet too large
  'server-unavailable': 0x88, // Server unavailable
  'server-busy': 0x89, // Server busy
  'quota-exceeded': 0x97, // Quota exceeded
  'connection-rate-exceeded': 0x9f, // Connection rate exceeded
  'client-id-rejected': 0x85, // Client Identifier not valid (client_id_must_match)
  'internal-error': 0x80, // Unspecified error: Sluice failed placing this client (logged, counted)
};

// MQTT 3.1.1 §3.2.2.3 Connect Return Codes (3.1 uses the same values). 3.1.1 has no code for a
// malformed or oversized CONNECT: the server just closes the connection [MQTT-4.8.0-1].
const v3ReturnCodes: Record<Refusal, number | undefined> = {
  'unsupported-protocol': 0x01, // unacceptable protocol version
  malformed: undefined,
  'too-large': undefined,
  'server-unavailable': 0x03, // server unavailable
  'server-busy': 0x03,
  'quota-exceeded': 0x03,
  'connection-rate-exceeded': 0x03,
  'client-id-rejected': 0x02, // identifier rejected
  'internal-error': 0x03,
};

type Form = 'v3' | 'v5';

/**
 * Which CONNACK form the client reads: level 5 -> the 5.0 form, 3 and 4 -> the 3.1/3.1.1 form.
 * For 'unsupported-protocol' the level is by definition one we do not speak, so the protocol name
 * decides too: 'MQTT' with a level above 5 (a newer client) gets the 5.0 form; anything else ('MQIsdp'
 * with any level but 3, 'MQTT' below 4, unknown) the 3.1/3.1.1 form, which 3.1.1 says a server sends for
 * a level it does not support [MQTT-3.1.2-2] and which 3.1 clients read. Otherwise an unknown level
 * means no CONNACK.
 */
function formFor(refusal: Refusal, protocolLevel: number | undefined, protocolName: string | undefined): Form | undefined {
  if (refusal === 'unsupported-protocol') return protocolName === 'MQTT' && protocolLevel !== undefined && protocolLevel > 5 ? 'v5' : 'v3';
  if (protocolLevel === 5) return 'v5';
  if (protocolLevel === 3 || protocolLevel === 4) return 'v3';
  return undefined;
}

/** The reason code (5.0) or return code (3.1/3.1.1) for a refusal; undefined = send nothing, just close. */
export function refusalReasonCode(refusal: Refusal, protocolLevel: number | undefined, protocolName?: string): number | undefined {
  const form = formFor(refusal, protocolLevel, protocolName);
  if (form === undefined) return undefined;
  return form === 'v5' ? v5ReasonCodes[refusal] : v3ReturnCodes[refusal];
}

// Built once: CONNACK with session present 0 and, in 5.0, an empty property list
// (v3: 20 02 00 rc, v5: 20 03 00 rc 00).
const connacks = new Map<string, Buffer>();
for (const refusal of Object.keys(v5ReasonCodes) as Refusal[]) {
  connacks.set(`v5:${refusal}`, mqtt.generate({ cmd: 'connack', sessionPresent: false, reasonCode: v5ReasonCodes[refusal] }, { protocolVersion: 5 }));
  const returnCode = v3ReturnCodes[refusal];
  if (returnCode !== undefined) {
    connacks.set(`v3:${refusal}`, mqtt.generate({ cmd: 'connack', sessionPresent: false, returnCode }, { protocolVersion: 4 }));
  }
}

/**
 * The CONNACK to write before closing, or undefined when MQTT says to close without one.
 * The Buffer is shared by every caller: write it, never modify it.
 */
export function refusalConnack(refusal: Refusal, protocolLevel: number | undefined, protocolName?: string): Buffer | undefined {
  const form = formFor(refusal, protocolLevel, protocolName);
  return form === undefined ? undefined : connacks.get(`${form}:${refusal}`);
}
