// Reads the PROXY protocol header (v1 text or v2 binary, HAProxy's spec) that a front L4 balancer puts
// before the client's bytes, on listeners with accept_proxy_protocol. Pure: fed the bytes received so
// far, it says need-more, the header (its length and the addresses it names), or why it is invalid.
// Anything that cannot become a valid header is invalid as soon as its bytes show it.
import { isIP } from 'node:net';
import type { Endpoint } from './v2-header.ts';

/** The largest header accepted: v1 is at most 107 bytes; v2 TLVs from real balancers are far below this. */
export const kMaxProxyHeaderBytes = 2048;

const kV2Signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const kV1Prefix = Buffer.from('PROXY ', 'latin1');
const kV1MaxBytes = 107;

export type ProxyHeaderVerdict =
  | { kind: 'need-more' }
  /** source/destination undefined: LOCAL (a health check of the balancer) or UNKNOWN: use the connection's own. */
  | { kind: 'header'; length: number; version: 1 | 2; source: Endpoint | undefined; destination: Endpoint | undefined }
  | { kind: 'invalid'; reason: string };

const needMore: ProxyHeaderVerdict = { kind: 'need-more' };

export function readProxyHeader(buf: Buffer): ProxyHeaderVerdict {
  if (buf.length === 0) return needMore;
  if (buf[0] === 0x0d) return readV2(buf);
  if (buf[0] === 0x50) return readV1(buf);
  return { kind: 'invalid', reason: 'no PROXY header (neither "PROXY " nor the v2 signature)' };
}

/** True when `buf` starts like a PROXY header (v1 or v2): for a clearer refusal where none is expected. */
export function looksLikeProxyHeader(buf: Buffer): boolean {
  const n = Math.min(buf.length, 12);
  return n >= 5 && (buf.subarray(0, Math.min(n, 6)).equals(kV1Prefix.subarray(0, Math.min(n, 6))) || buf.subarray(0, n).equals(kV2Signature.subarray(0, n)));
}

function readV1(buf: Buffer): ProxyHeaderVerdict {
  const prefixLength = Math.min(buf.length, kV1Prefix.length);
  if (!buf.subarray(0, prefixLength).equals(kV1Prefix.subarray(0, prefixLength))) return { kind: 'invalid', reason: 'not a PROXY v1 header' };
  const end = buf.indexOf('\r\n', 0, 'latin1');
  if (end < 0) return buf.length >= kV1MaxBytes ? { kind: 'invalid', reason: `PROXY v1 line longer than ${kV1MaxBytes} bytes` } : needMore;
  if (end + 2 > kV1MaxBytes) return { kind: 'invalid', reason: `PROXY v1 line longer than ${kV1MaxBytes} bytes` };
  const fields = buf.toString('latin1', kV1Prefix.length, end).split(' ');
  const length = end + 2;
  if (fields[0] === 'UNKNOWN') return { kind: 'header', length, version: 1, source: undefined, destination: undefined };
  if (fields.length !== 5 || (fields[0] !== 'TCP4' && fields[0] !== 'TCP6')) return { kind: 'invalid', reason: 'PROXY v1 line is not "TCP4|TCP6 src dst sport dport"' };
  const [proto, srcIp, dstIp, srcPort, dstPort] = fields;
  const family = proto === 'TCP4' ? 4 : 6;
  if (isIP(srcIp) !== family || isIP(dstIp) !== family) return { kind: 'invalid', reason: `PROXY v1 addresses are not ${proto} addresses` };
  const sp = v1Port(srcPort);
  const dp = v1Port(dstPort);
  if (sp === undefined || dp === undefined) return { kind: 'invalid', reason: 'PROXY v1 port is not 0..65535' };
  return { kind: 'header', length, version: 1, source: { ip: srcIp, port: sp }, destination: { ip: dstIp, port: dp } };
}

function v1Port(s: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 65535 ? n : undefined;
}

function readV2(buf: Buffer): ProxyHeaderVerdict {
  const sigLength = Math.min(buf.length, kV2Signature.length);
  if (!buf.subarray(0, sigLength).equals(kV2Signature.subarray(0, sigLength))) return { kind: 'invalid', reason: 'not a PROXY v2 signature' };
  if (buf.length < 16) return needMore;
  const version = buf[12] >> 4;
  const command = buf[12] & 0x0f;
  if (version !== 2) return { kind: 'invalid', reason: `PROXY v2 header with version ${version}` };
  if (command > 1) return { kind: 'invalid', reason: `PROXY v2 command ${command} (0 LOCAL, 1 PROXY)` };
  const length = 16 + buf.readUInt16BE(14);
  if (length > kMaxProxyHeaderBytes) return { kind: 'invalid', reason: `PROXY v2 header of ${length} bytes (at most ${kMaxProxyHeaderBytes})` };
  if (buf.length < length) return needMore;
  if (command === 0) return { kind: 'header', length, version: 2, source: undefined, destination: undefined }; // LOCAL
  const family = buf[13];
  if (family === 0x11) {
    if (length < 16 + 12) return { kind: 'invalid', reason: 'PROXY v2 TCP4 header too short for its addresses' };
    const ip = (at: number) => `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
    return { kind: 'header', length, version: 2, source: { ip: ip(16), port: buf.readUInt16BE(24) }, destination: { ip: ip(20), port: buf.readUInt16BE(26) } };
  }
  if (family === 0x21) {
    if (length < 16 + 36) return { kind: 'invalid', reason: 'PROXY v2 TCP6 header too short for its addresses' };
    return { kind: 'header', length, version: 2, source: { ip: ipv6(buf, 16), port: buf.readUInt16BE(48) }, destination: { ip: ipv6(buf, 32), port: buf.readUInt16BE(50) } };
  }
  // UNSPEC, UDP or UNIX: nothing a TCP client's address can be taken from; the connection's own is used.
  return { kind: 'header', length, version: 2, source: undefined, destination: undefined };
}

/** 16 bytes at `at` as an IPv6 address (an IPv4-mapped one as its IPv4 form, as Node shows them). */
function ipv6(buf: Buffer, at: number): string {
  const b = buf.subarray(at, at + 16);
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // The canonical form (longest zero run as ::), as the URL parser writes it.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}
