// Raw HTTP/1.1 for admin tests: send exact bytes (odd request lines, trickles) and parse the answer.
import { rawExchange, type RawResult } from './mqtt.ts';

export type HttpAnswer = RawResult & { status?: number; headers: Record<string, string>; body: string };

/** Sends `chunks` as they are (latin1 for strings) and parses the first HTTP response that comes back. */
export async function rawHttp(port: number, chunks: (string | Buffer)[], opts: { waitMs?: number; gapMs?: number } = {}): Promise<HttpAnswer> {
  const r = await rawExchange(port, chunks.map((c) => (typeof c === 'string' ? Buffer.from(c, 'latin1') : c)), opts);
  return { ...r, ...parseHttpResponse(r.data) };
}

/** Status, lower-cased headers and body (cut at content-length) of the first response in `data`. */
export function parseHttpResponse(data: Buffer): { status?: number; headers: Record<string, string>; body: string } {
  const text = data.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = (end < 0 ? text : text.slice(0, end)).split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1];
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = end < 0 ? '' : text.slice(end + 4);
  if (headers['content-length'] !== undefined) body = body.slice(0, Number(headers['content-length']));
  return { status: status === undefined ? undefined : Number(status), headers, body };
}
