// Unit tests: PROXY headers from a front balancer (v1 text, v2 binary): complete, need-more at every
// shorter prefix, and invalid as soon as the bytes show it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { looksLikeProxyHeader, readProxyHeader } from '../../src/proxy/header-reader.ts';
import { proxyV2Header } from '../../src/proxy/v2-header.ts';

const v1 = (line: string) => Buffer.from(`${line}\r\n`, 'latin1');

test('v1 TCP4, TCP6 and UNKNOWN; what follows is not part of the header', () => {
  const h = Buffer.concat([v1('PROXY TCP4 192.0.2.1 198.51.100.2 56324 1883'), Buffer.from([0x10, 0x00])]);
  assert.equal(readProxyHeader(h), { kind: 'header', length: h.length - 2, version: 1, source: { ip: '192.0.2.1', port: 56324 }, destination: { ip: '198.51.100.2', port: 1883 } });
  assert.equal(readProxyHeader(v1('PROXY TCP6 2001:db8::1 ::1 1 65535')), { kind: 'header', length: 36, version: 1, source: { ip: '2001:db8::1', port: 1 }, destination: { ip: '::1', port: 65535 } });
  assert.equal(readProxyHeader(v1('PROXY UNKNOWN')), { kind: 'header', length: 15, version: 1, source: undefined, destination: undefined });
});

test('v2 TCP4 and TCP6 (our own encoder as the reference), LOCAL, and an unspecified family', () => {
  const four = proxyV2Header({ ip: '10.1.2.3', port: 4000 }, { ip: '10.0.0.1', port: 1883 });
  assert.equal(readProxyHeader(Buffer.concat([four, Buffer.from([0x10])])), { kind: 'header', length: four.length, version: 2, source: { ip: '10.1.2.3', port: 4000 }, destination: { ip: '10.0.0.1', port: 1883 } });
  const six = proxyV2Header({ ip: '2001:db8::7', port: 1 }, { ip: 'fe80::1', port: 2 }, { version: 'TLSv1.3', serverName: 'x', alpn: undefined, certVerified: false, certPresented: false, certCn: undefined });
  assert.equal(readProxyHeader(six), { kind: 'header', length: six.length, version: 2, source: { ip: '2001:db8::7', port: 1 }, destination: { ip: 'fe80::1', port: 2 } });
  const local = Buffer.from(four);
  local[12] = 0x20;
  assert.equal(readProxyHeader(local), { kind: 'header', length: four.length, version: 2, source: undefined, destination: undefined });
  const unspec = Buffer.from(four);
  unspec[13] = 0x00;
  assert.equal(readProxyHeader(unspec), { kind: 'header', length: four.length, version: 2, source: undefined, destination: undefined });
});

test('every shorter prefix of a valid header needs more', () => {
  for (const h of [v1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2'), proxyV2Header({ ip: '1.2.3.4', port: 1 }, { ip: '5.6.7.8', port: 2 })]) {
    for (let n = 0; n < h.length; n++) assert.equal(readProxyHeader(h.subarray(0, n)), { kind: 'need-more' }, `${n} of ${h.length}`);
  }
});

test('invalid: no header, a wrong v1 line, a v1 line over 107 bytes, a wrong v2 version or command, an oversized v2', () => {
  const invalid = (b: Buffer) => readProxyHeader(b).kind === 'invalid';
  assert.ok(invalid(Buffer.from([0x10, 0x0c])), 'a CONNECT');
  assert.ok(invalid(Buffer.from('PROXX', 'latin1')), 'as soon as the prefix is wrong');
  assert.ok(invalid(v1('PROXY TCP4 1.2.3.4 5.6.7.8 1')), 'a field missing');
  assert.ok(invalid(v1('PROXY TCP4 ::1 5.6.7.8 1 2')), 'a v6 address in TCP4');
  assert.ok(invalid(v1('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2')), 'a port past 65535');
  assert.ok(invalid(v1('PROXY TCP4 1.2.3.4 5.6.7.8 01 2')), 'a leading zero');
  assert.ok(invalid(v1('PROXY UDP4 1.2.3.4 5.6.7.8 1 2')));
  assert.ok(invalid(Buffer.from(`PROXY TCP4 ${'1'.repeat(110)}`, 'latin1')), 'no CRLF within 107 bytes');
  const h = proxyV2Header({ ip: '1.2.3.4', port: 1 }, { ip: '5.6.7.8', port: 2 });
  const bad = (at: number, v: number) => { const b = Buffer.from(h); b[at] = v; return b; };
  assert.ok(invalid(bad(12, 0x11)), 'version 1 in a v2 signature');
  assert.ok(invalid(bad(12, 0x22)), 'command 2');
  assert.ok(invalid(bad(3, 0x00)), 'a broken signature');
  const big = Buffer.from(h);
  big.writeUInt16BE(4000, 14);
  assert.ok(invalid(big), 'longer than 2048 bytes: refused before it is all in');
  const short = Buffer.from(h);
  short.writeUInt16BE(4, 14);
  assert.ok(invalid(short.subarray(0, 20)), 'TCP4 with no room for its addresses');
});

test('looksLikeProxyHeader: v1 and v2 starts, not MQTT', () => {
  assert.ok(looksLikeProxyHeader(v1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2')));
  assert.ok(looksLikeProxyHeader(proxyV2Header({ ip: '1.2.3.4', port: 1 }, { ip: '5.6.7.8', port: 2 })));
  assert.not.ok(looksLikeProxyHeader(Buffer.from([0x10, 0x10, 0x00, 0x04, 0x4d, 0x51])));
});

test.run();
