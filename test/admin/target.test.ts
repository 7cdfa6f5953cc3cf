// Unit tests: the admin request target parser accepts origin and absolute form and never throws.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseTarget } from '../../src/admin/target.ts';
import { mulberry32 } from '../helpers/random.ts';

test('origin and absolute form give their path and query', () => {
  const cases: [string, string, string][] = [
    ['/healthz', '/healthz', ''],
    ['/api/clients?client_id=a%20b&limit=5', '/api/clients', '?client_id=a%20b&limit=5'],
    ['//healthz', '//healthz', ''], // a path, not a host
    ['/api/../healthz', '/healthz', ''],
    ['/api/stats?a=/b?c', '/api/stats', '?a=/b?c'],
    ['http://127.0.0.1:9100/healthz', '/healthz', ''],
    ['HTTPS://[::1]:9100/api/stats?x=1', '/api/stats', '?x=1'],
    ['http://admin.example', '/', ''],
    ['http://admin.example?x=1', '/', '?x=1'],
  ];
  for (const [target, pathname, search] of cases) {
    const url = parseTarget(target);
    assert.ok(url, target);
    assert.is(url!.pathname, pathname, target);
    assert.is(url!.search, search, target);
  }
});

test('bad targets give null', () => {
  for (const target of [
    '', '*', 'healthz', '//[', '/[', '/a b', '/healthz#x', '/%', '/%zz', '/a?%g0', '/é',
    'http://', 'http://[::1', 'http://[::1]:x/', 'http://h:99999/', 'ftp://h/', 'http:/h/', 'http://h/a{b', 'h:9100',
  ]) {
    assert.is(parseTarget(target), null, JSON.stringify(target));
  }
});

test('no input throws: every byte after "/", "//" and "http://", and seeded random strings', () => {
  for (const prefix of ['/', '//', 'http://', 'http://h/']) {
    for (let b = 0; b < 256; b++) parseTarget(prefix + String.fromCharCode(b));
  }
  const random = mulberry32(10);
  const alphabet = '/[]:@?#%.-_~!$&\'()*+,;=aZ09 \t\u00e9\u{1f600}\\{}"<>^`|';
  for (let i = 0; i < 5000; i++) {
    const length = 1 + Math.floor(random() * 24);
    let target = random() < 0.5 ? '/' : 'http://';
    for (let j = 0; j < length; j++) target += [...alphabet][Math.floor(random() * [...alphabet].length)];
    const url = parseTarget(target);
    if (url) assert.ok(url.pathname.startsWith('/'), target);
  }
});

test.run();
