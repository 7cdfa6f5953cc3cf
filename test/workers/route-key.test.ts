// Unit tests: route key selection (first non-empty source wins; sources never collide).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { routeKeyText } from '../../workers/route-key.ts';
import type { ConnectInfo } from '../../src/mqtt/connect.ts';

const base: ConnectInfo = { protocolName: 'MQTT', protocolLevel: 5, clientId: '', username: undefined, hasPassword: false, cleanStart: true, keepaliveSec: 30 };
const all = ['client-id', 'username', 'source-address'] as const;

test('client id first, then username, then source address', () => {
  assert.equal(routeKeyText(all, { ...base, clientId: 'car-1', username: 'u' }, '10.0.0.1'), { text: 'c:car-1', source: 'client-id' });
  assert.equal(routeKeyText(all, { ...base, username: 'u' }, '10.0.0.1'), { text: 'u:u', source: 'username' });
  assert.equal(routeKeyText(all, base, '10.0.0.1'), { text: 'a:10.0.0.1', source: 'source-address' });
});

test('no usable source gives no key', () => {
  assert.is(routeKeyText(['client-id'], base, '10.0.0.1'), undefined);
});

test('cert-cn: the client certificate\'s CN, its own key space; skipped without a certificate', () => {
  const keys = ['cert-cn', 'client-id'] as const;
  assert.equal(routeKeyText(keys, { ...base, clientId: 'car-1' }, undefined, 'device-9'), { text: 'n:device-9', source: 'cert-cn' });
  assert.equal(routeKeyText(keys, { ...base, clientId: 'car-1' }, undefined, undefined), { text: 'c:car-1', source: 'client-id' });
  assert.equal(routeKeyText(keys, { ...base, clientId: 'car-1' }, undefined, ''), { text: 'c:car-1', source: 'client-id' });
  assert.not.equal(routeKeyText(['cert-cn'], base, undefined, 'x'), routeKeyText(['client-id'], { ...base, clientId: 'x' }, undefined));
});

test('a long client id is kept whole', () => {
  const id = 'x'.repeat(70_000) + 'end';
  assert.is(routeKeyText(all, { ...base, clientId: id }, undefined)?.text, `c:${id}`);
});

test.run();
