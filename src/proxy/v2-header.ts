// PROXY protocol version 2 headers, as Sluice sends them to brokers that ask (broker proxy_protocol: v2):
// the client's real address and, for TLS clients, what the TLS layer knew (version, SNI, ALPN, the
// client certificate's CN), in the TLVs HAProxy's send-proxy-v2-ssl-cn writes and EMQX, VerneMQ and
// Mosquitto 2.1 read. Spec: haproxy.org/download/2.9/doc/proxy-protocol.txt, section 2.2.
import { isIPv4, isIPv6 } from 'node:net';

const kSignature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const kVersion2Proxy = 0x21; // version 2, command PROXY
const kTcp4 = 0x11; // AF_INET, STREAM
const kTcp6 = 0x21; // AF_INET6, STREAM

export const PP2_TYPE_ALPN = 0x01;
export const PP2_TYPE_AUTHORITY = 0x02;
export const PP2_TYPE_SSL = 0x20;
export const PP2_SUBTYPE_SSL_VERSION = 0x21;
export const PP2_SUBTYPE_SSL_CN = 0x22;
export const PP2_CLIENT_SSL = 0x01;
export const PP2_CLIENT_CERT_CONN = 0x02;

export type Endpoint = { ip: string; port: number };

/** What a TLS connection tells the broker; undefined for plain TCP. */
export type TlsFacts = {
  version: string | undefined; // e.g. TLSv1.3
  serverName: string | undefined; // SNI
  alpn: string | undefined;
  /** The client presented a certificate and it verified. */
  certVerified: boolean;
  /** A certificate was presented (verified or not: optional client auth lets unverified ones through only when absent). */
  certPresented: boolean;
  certCn: string | undefined;
};

/**
 * The header for one connection: source = the client, destination = the address it connected to. Two
 * IPv4 addresses (an IPv4-mapped IPv6 address counts as IPv4) give the TCP4 form; anything else TCP6.
 */
export function proxyV2Header(source: Endpoint, destination: Endpoint, tls?: TlsFacts): Buffer {
  const src = ipBytes(source.ip);
  const dst = ipBytes(destination.ip);
  const v4 = src.length === 4 && dst.length === 4;
  const srcAddr = v4 ? src : to16(src);
  const dstAddr = v4 ? dst : to16(dst);
  const tlvs = tls ? tlsTlvs(tls) : [];
  const addressBytes = srcAddr.length * 2 + 4;
  const length = addressBytes + tlvs.reduce((n, t) => n + t.length, 0);
  if (length > 0xffff) throw new RangeError('PROXY v2 header longer than 65535 bytes');
  const head = Buffer.alloc(16 + addressBytes);
  kSignature.copy(head, 0);
  head[12] = kVersion2Proxy;
  head[13] = v4 ? kTcp4 : kTcp6;
  head.writeUInt16BE(length, 14);
  srcAddr.copy(head, 16);
  dstAddr.copy(head, 16 + srcAddr.length);
  head.writeUInt16BE(source.port, 16 + srcAddr.length * 2);
  head.writeUInt16BE(destination.port, 18 + srcAddr.length * 2);
  return tlvs.length === 0 ? head : Buffer.concat([head, ...tlvs]);
}

function tlsTlvs(t: TlsFacts): Buffer[] {
  const out: Buffer[] = [];
  if (t.alpn) out.push(tlv(PP2_TYPE_ALPN, Buffer.from(t.alpn, 'latin1')));
  if (t.serverName) out.push(tlv(PP2_TYPE_AUTHORITY, Buffer.from(t.serverName, 'utf8')));
  // PP2_TYPE_SSL: client flags (1 byte), verify (4 bytes: 0 = a client certificate was presented and
  // verified, else non-zero), then sub-TLVs.
  const fixed = Buffer.alloc(5);
  fixed[0] = PP2_CLIENT_SSL | (t.certPresented ? PP2_CLIENT_CERT_CONN : 0);
  fixed.writeUInt32BE(t.certPresented && t.certVerified ? 0 : 1, 1);
  const subs: Buffer[] = [fixed];
  if (t.version) subs.push(tlv(PP2_SUBTYPE_SSL_VERSION, Buffer.from(t.version, 'latin1')));
  if (t.certCn !== undefined && t.certVerified) subs.push(tlv(PP2_SUBTYPE_SSL_CN, Buffer.from(t.certCn, 'utf8')));
  out.push(tlv(PP2_TYPE_SSL, Buffer.concat(subs)));
  return out;
}

function tlv(type: number, value: Buffer): Buffer {
  const b = Buffer.alloc(3 + value.length);
  b[0] = type;
  b.writeUInt16BE(value.length, 1);
  value.copy(b, 3);
  return b;
}

/** 4 bytes for IPv4 (and IPv4-mapped IPv6), 16 for IPv6. */
function ipBytes(ip: string): Buffer {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) ip = mapped[1];
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  if (!isIPv6(ip)) throw new TypeError(`not an IP address: ${ip}`);
  const [head, tail] = ip.replace(/%.*$/, '').split('::');
  const groups = (s: string | undefined) => (s ? s.split(':') : []);
  let h = groups(head);
  let t = tail === undefined ? [] : groups(tail);
  // An embedded IPv4 tail (::ffff:1.2.3.4 handled above; others such as 64:ff9b::1.2.3.4).
  const last = (t.length ? t : h).at(-1);
  if (last?.includes('.')) {
    const [a, b, c, d] = last.split('.').map(Number);
    const hex = [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
    if (t.length) t = [...t.slice(0, -1), ...hex];
    else h = [...h.slice(0, -1), ...hex];
  }
  const fill = tail === undefined ? [] : Array(8 - h.length - t.length).fill('0');
  const all = [...h, ...fill, ...t];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function to16(b: Buffer): Buffer {
  if (b.length === 16) return b;
  const out = Buffer.alloc(16);
  out[10] = 0xff;
  out[11] = 0xff;
  b.copy(out, 12);
  return out;
}
