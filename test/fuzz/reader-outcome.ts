// The outcome of one first-packet input fed to the ConnectReader in given pieces, with a FIN after the
// last: the verdict, the bytes the client is answered with, and the bytes that go on to the broker.
import { Buffer } from 'node:buffer';
import { ConnectReader, refusalOf } from '../../src/mqtt/connect-reader.ts';
import { refusalConnack } from '../../src/mqtt/connack.ts';

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
