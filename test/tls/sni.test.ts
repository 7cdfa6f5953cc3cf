// Unit tests: which certificate a server name gets (exact names, one-label wildcards, the default).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nameMatches, pickCertificate } from '../../src/tls/sni.ts';

test('exact names match case-insensitively, with or without a trailing dot', () => {
  assert.ok(nameMatches('mqtt.example.com', 'mqtt.example.com'));
  assert.ok(nameMatches('mqtt.example.com', 'MQTT.Example.COM'));
  assert.ok(nameMatches('mqtt.example.com', 'mqtt.example.com.'));
  assert.not.ok(nameMatches('mqtt.example.com', 'example.com'));
});

test('a wildcard covers exactly one label', () => {
  assert.ok(nameMatches('*.example.com', 'a.example.com'));
  assert.not.ok(nameMatches('*.example.com', 'example.com'));
  assert.not.ok(nameMatches('*.example.com', 'a.b.example.com'));
  assert.not.ok(nameMatches('*.example.com', '.example.com'));
});

test('the first certificate whose names match wins; no match or no name gives the first', () => {
  const pairs = [{ names: ['default.test'] }, { names: ['*.fleet.test'] }, { names: ['a.fleet.test', 'other.test'] }];
  assert.is(pickCertificate(pairs, 'car-7.fleet.test'), 1);
  assert.is(pickCertificate(pairs, 'a.fleet.test'), 1, 'the wildcard comes first');
  assert.is(pickCertificate(pairs, 'other.test'), 2);
  assert.is(pickCertificate(pairs, 'unknown.test'), 0);
  assert.is(pickCertificate(pairs, undefined), 0);
  assert.is(pickCertificate(pairs, ''), 0);
});

test.run();
