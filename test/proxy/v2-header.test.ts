// Unit tests: PROXY protocol v2 headers byte for byte (spec section 2.2): TCP4, TCP6, mixed families,
// and the TLVs a TLS client adds (ALPN, authority, SSL with version and CN).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { proxyV2Header } from '../../src/proxy/v2-header.ts';

const sig = '0d0a0d0a000d0a515549540a';

test('TCP4: signature, v2 PROXY, AF_INET STREAM, length 12, addresses then ports', () => {
  const h = proxyV2Header({ ip: '192.0.2.10', port: 51000 }, { ip: '127.0.0.1', port: 1883 });
  assert.is(h.toString('hex'), `${sig}2111000c` + 'c000020a' + '7f000001' + 'c738' + '075b');
});

test('TCP6, and an IPv4-mapped address as IPv4; a v4 source to a v6 destination uses the TCP6 form', () => {
  const h6 = proxyV2Header({ ip: '2001:db8::1', port: 1 }, { ip: '::1', port: 8883 });
  assert.is(h6.toString('hex'), `${sig}21210024` + '20010db8000000000000000000000001' + '00000000000000000000000000000001' + '0001' + '22b3');
  assert.equal(proxyV2Header({ ip: '::ffff:10.1.2.3', port: 5 }, { ip: '10.0.0.1', port: 6 }), proxyV2Header({ ip: '10.1.2.3', port: 5 }, { ip: '10.0.0.1', port: 6 }));
  const mixed = proxyV2Header({ ip: '10.1.2.3', port: 5 }, { ip: 'fe80::2', port: 6 });
  assert.is(mixed.subarray(13, 16).toString('hex'), '210024');
  assert.is(mixed.subarray(16, 32).toString('hex'), '00000000000000000000ffff0a010203');
  assert.is(mixed.subarray(32, 48).toString('hex'), 'fe800000000000000000000000000002');
  assert.is(proxyV2Header({ ip: '64:ff9b::1.2.3.4', port: 1 }, { ip: '::', port: 2 }).subarray(16, 32).toString('hex'), '0064ff9b000000000000000001020304');
});

test('TLS: ALPN, authority (SNI) and SSL (client flags, verify 0, version, CN) TLVs after the addresses', () => {
  const h = proxyV2Header({ ip: '127.0.0.1', port: 40000 }, { ip: '127.0.0.1', port: 8883 },
    { version: 'TLSv1.3', serverName: 'mqtt.test', alpn: 'mqtt', certVerified: true, certPresented: true, certCn: 'car-7' });
  const tlvs = Buffer.concat([
    Buffer.from('01' + '0004', 'hex'), Buffer.from('mqtt'),
    Buffer.from('02' + '0009', 'hex'), Buffer.from('mqtt.test'),
    Buffer.from('20' + '0017' + '03' + '00000000' + '21' + '0007', 'hex'), Buffer.from('TLSv1.3'),
    Buffer.from('22' + '0005', 'hex'), Buffer.from('car-7'),
  ]);
  assert.is(h.readUInt16BE(14), 12 + tlvs.length);
  assert.is(h.subarray(28).toString('hex'), tlvs.toString('hex'));
});

test('TLS without a client certificate: CLIENT_SSL only, verify non-zero, no CN; nothing unknown is sent', () => {
  const h = proxyV2Header({ ip: '127.0.0.1', port: 1 }, { ip: '127.0.0.1', port: 2 },
    { version: 'TLSv1.2', serverName: undefined, alpn: undefined, certVerified: false, certPresented: false, certCn: undefined });
  assert.is(h.subarray(28).toString('hex'), '20' + '000f' + '01' + '00000001' + '21' + '0007' + Buffer.from('TLSv1.2').toString('hex'));
});

test('not an IP address: a TypeError (Sluice passes only socket addresses)', () => {
  assert.throws(() => proxyV2Header({ ip: 'localhost', port: 1 }, { ip: '127.0.0.1', port: 2 }), /not an IP address/);
});

test.run();
