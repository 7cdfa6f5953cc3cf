// Unit tests: TLS files are read and checked before anything starts. A certificate and a key that do not
// belong together, an unreadable file or a file that is not PEM is a config error naming the key; an
// expired certificate is a warning; the names SNI matches come from subjectAltName, else the CN.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { resolveConfig } from '../../src/config/load.ts';
import { certNames, checkPair, loadTlsMaterial } from '../../src/tls/material.ts';
import { SluiceError } from '../../src/errors.ts';
import { makeTestCerts } from '../helpers/certs.ts';

const certs = makeTestCerts();
test.after(() => certs.remove());

const brokers = [{ name: 'a', address: '127.0.0.1:1884' }];
const configWith = (tls: Record<string, unknown>) =>
  resolveConfig({ brokers, listeners: [{ bind: '127.0.0.1:1883' }, { bind: '127.0.0.1:8883', protocol: 'mqtts', tls }] }, 't.yaml');

function errorOf(tls: Record<string, unknown>): string {
  try {
    loadTlsMaterial(configWith(tls), 't.yaml');
  } catch (err) {
    assert.instance(err, SluiceError);
    return (err as Error).message;
  }
  throw new Error('expected a config error');
}

test('a good pair loads: PEM for the workers, names, subject and expiry for operators', () => {
  const { material, warnings } = loadTlsMaterial(configWith({ cert: certs.server.cert, key: certs.server.key }), 't.yaml');
  assert.is(material[0], undefined, 'the plain listener has none');
  const m = material[1]!;
  assert.is(m.pairs.length, 1);
  assert.equal(m.pairs[0].names, ['127.0.0.1', 'localhost']);
  assert.match(m.pairs[0].certPem, /BEGIN CERTIFICATE/);
  assert.ok(m.pairs[0].notAfterMs > Date.now());
  assert.is(m.clientAuth, 'none');
  assert.is(m.minVersion, 'TLSv1.2');
  assert.is(m.handshakeTimeoutMs, 10_000);
  assert.equal(warnings, []);
});

test('a key of another certificate is refused, and so is a file that is not PEM or cannot be read', () => {
  assert.match(errorOf({ cert: certs.server.cert, key: certs.other.key }), new RegExp(`listeners\\[1\\]\\.tls: .*other\\.key is not the key of .*server\\.pem`));
  const junk = join(certs.dir, 'junk.pem');
  writeFileSync(junk, 'hello\n');
  assert.match(errorOf({ cert: junk, key: certs.server.key }), /junk\.pem is not a PEM certificate/);
  const msg = errorOf({ cert: certs.server.cert, key: junk });
  assert.match(msg, /junk\.pem is not a PEM private key/);
  assert.match(errorOf({ cert: join(certs.dir, 'missing.pem'), key: certs.server.key }), /listeners\[1\]\.tls\.cert: cannot read .*missing\.pem: ENOENT/);
  assert.match(errorOf({ cert: certs.server.cert, key: certs.server.key, ca: junk, client_auth: 'required' }), /listeners\[1\]\.tls\.ca: .*junk\.pem holds no PEM certificate/);
});

test('an error never quotes key material', () => {
  const half = join(certs.dir, 'half.key');
  writeFileSync(half, readFileSync(certs.server.key, 'utf8').slice(0, 120));
  const msg = errorOf({ cert: certs.server.cert, key: half });
  const keyBody = readFileSync(certs.server.key, 'utf8').split('\n')[1];
  assert.not.ok(msg.includes(keyBody.slice(0, 20)), msg);
});

test('several pairs load in order (the first is the default); an expired certificate is a warning', () => {
  const { material, warnings } = loadTlsMaterial(configWith({ cert: [certs.server.cert, certs.other.cert], key: [certs.server.key, certs.other.key] }), 't.yaml');
  assert.equal(material[1]!.pairs.map((p) => p.names), [['127.0.0.1', 'localhost'], ['other.test']]);
  assert.equal(warnings, []);
  const later = loadTlsMaterial(configWith({ cert: certs.server.cert, key: certs.server.key }), 't.yaml', Date.now() + 365 * 86_400_000);
  assert.is(later.warnings.length, 1);
  assert.match(later.warnings[0].msg, /certificate expired/);
});

test('names: subjectAltName DNS and IP entries, else the CN', () => {
  assert.equal(certNames(new X509Certificate(readFileSync(certs.other.cert))), ['other.test']);
  assert.equal(certNames(new X509Certificate(readFileSync(certs.strangerClient.cert))), ['stranger']);
  const pair = checkPair(readFileSync(certs.client.cert, 'utf8'), readFileSync(certs.client.key, 'utf8'), 'c.pem', 'c.key');
  assert.ok(typeof pair !== 'string' && pair.subject === 'CN=device-1', JSON.stringify(pair));
});

test.run();
