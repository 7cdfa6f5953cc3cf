// The outcome of one first-packet input fed to the ConnectReader in given pieces, with a FIN after the
// last: the verdict, the bytes the client is answered with, and the bytes that go on to the broker.
import { Buffer } from 'node:buffer';
import { ConnectReader, refusalOf } from '../../src/mqtt/connect-reader.ts';
import { refusalConnack } from '../../src/mqtt/connack.ts';
import type { ConnectInfo } from '../../src/mqtt/connect.ts';
import { mqttPacketParse } from '../fixtures/mqtt/connects.ts';

export type Outcome = {
  verdict: string; // 'complete', 'ended' (FIN before the CONNECT was whole), or the refusal with its details
  reply: string; // hex of what the client gets before the close ('' = nothing)
  forwarded: string; // hex of what the broker gets: the CONNECT and everything after it ('' = no broker)
};

export function readerOutcome(pieces: readonly Buffer[], maxConnectBytes: number): Outcome {
  const reader = new ConnectReader(maxConnectBytes);
  for (let i = 0; i < pieces.length; i++) {
    const r = reader.push(pieces[i]);
    if (r.kind === 'need-more') continue;
    if (r.kind === 'complete') {
      // The data path forwards the rest of the stream unparsed.
      return { verdict: 'complete', reply: '', forwarded: Buffer.concat([r.bytes, ...pieces.slice(i + 1)]).toString('hex') };
    }
    const { refusal, protocolLevel, protocolName } = refusalOf(r);
    const detail = r.kind === 'malformed' ? r.reason : r.kind === 'not-connect' ? `type ${r.packetType}` : r.kind === 'too-large' ? `${r.packetBytes} bytes` : `${r.protocolName} ${r.protocolLevel}`;
    return {
      verdict: `${r.kind} (${detail}, level ${protocolLevel})`,
      reply: refusalConnack(refusal, protocolLevel, protocolName)?.toString('hex') ?? '',
      forwarded: '',
    };
  }
  return { verdict: 'ended', reply: '', forwarded: '' };
}

/** Outcomes as seen from outside (network): what the client got and what the broker got. */
export function observable(o: Outcome): string {
  return `reply=${o.reply || '-'} forwarded=${o.forwarded || '-'}`;
}

/**
 * For a complete CONNECT, what mqtt-packet (the reference parser) makes of the same bytes differs from
 * what Sluice read in these fields (empty: they agree). Sluice is stricter, never laxer: it may refuse
 * what mqtt-packet accepts, but what it accepts, mqtt-packet parses to the same fields.
 */
export function referenceDifferences(connectBytes: Buffer, read: ConnectInfo): string[] {
  const parsed = mqttPacketParse(connectBytes, read.protocolLevel);
  const p = parsed.packets[0];
  if (parsed.error !== undefined || parsed.packets.length !== 1 || p.cmd !== 'connect') return [`mqtt-packet: ${parsed.error ?? 'not exactly one CONNECT'}`];
  const want = { clientId: p.clientId, username: p.username, hasPassword: p.password !== undefined, cleanStart: p.clean === true, keepaliveSec: p.keepalive };
  return (Object.keys(want) as (keyof typeof want)[]).filter((k) => want[k] !== read[k]).map((k) => `${k}: ${JSON.stringify(read[k])} vs ${JSON.stringify(want[k])}`);
}
