// Unit tests: the admin router answers every method and target, and a throwing or rejecting
// dependency becomes a 500 logged at error level with its path, never with the query.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { createRouter, type AdminDeps } from '../../src/admin/router.ts';
import { Counters, CounterTotals } from '../../src/metrics/counters.ts';

type Line = { level: number; msg: string; path?: string; method?: string; err?: string };

function fixture(supervisor: Partial<AdminDeps['supervisor']>, testHooks = false, more: Partial<AdminDeps> = {}) {
  const lines: Line[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk))); cb(); } });
  const deps = {
    config: { brokers: [] },
    supervisor: { status: () => [], allListening: () => true, ...supervisor },
    counters: new CounterTotals(Counters.allocate()),
    log: pino({ level: 'trace' }, sink),
    ...more,
  } as unknown as AdminDeps;
  return { lines, route: createRouter(deps, { testHooks }) };
}

const flush = () => new Promise((r) => setImmediate(r));

test('a dependency that throws gives 500 and one error line with method and path', async () => {
  const { lines, route } = fixture({ status: () => { throw new Error('status table torn'); } });
  const reply = await route('GET', '/healthz?token=q-s3cret');
  assert.is(reply.status, 500);
  assert.equal(reply.body, { error: 'internal error' });
  await flush();
  const errors = lines.filter((l) => l.level === 50);
  assert.is(errors.length, 1);
  assert.is(errors[0].msg, 'admin request failed');
  assert.is(errors[0].path, '/healthz');
  assert.is(errors[0].method, 'GET');
  assert.is(errors[0].err, 'status table torn');
  assert.not.match(JSON.stringify(lines), /q-s3cret/);
});

test('a dependency that rejects gives 500; the next request is served', async () => {
  const { lines, route } = fixture({ listClients: () => Promise.reject(new Error('worker gone')) });
  assert.is((await route('GET', '/api/clients?limit=5')).status, 500);
  await flush();
  assert.equal(lines.filter((l) => l.level === 50).map((l) => [l.path, l.err]), [['/api/clients', 'worker gone']]);
  assert.is((await route('GET', '/healthz')).status, 200);
});

test('a non-Error rejection is still a 500', async () => {
  const { route } = fixture({ listClients: () => Promise.reject('a string') as never });
  assert.is((await route('GET', '/api/clients')).status, 500);
});

test('bad target 400 (closes), unknown path 404 with the paths, wrong method 405 with Allow', async () => {
  const { route } = fixture({});
  const bad = await route('GET', '//[');
  assert.is(bad.status, 400);
  assert.is(bad.close, true);
  const missing = await route('GET', '/nope');
  assert.is(missing.status, 404);
  assert.equal((missing.body as { paths: string[] }).paths, [
    '/healthz', '/readyz', '/api/brokers', '/api/discovery', '/api/tls', '/api/clients?client_id=&limit=', '/api/clients/{id}',
    'POST /api/brokers/{name}/drain?close_rate=N', 'POST /api/brokers/{name}/undrain', 'POST /api/reload', '/openapi.json', '/metrics', '/api/stats',
  ]);
  for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', '']) {
    const r = await route(method, '/healthz');
    assert.is(r.status, 405, method);
    assert.equal(r.headers, { allow: 'GET, HEAD' });
  }
  assert.is((await route('HEAD', '/healthz')).status, 200);
});

test('calls that change something: 403 without a configured token, 401 without the right one, the handler with it', async () => {
  const drains: [string, boolean, number | undefined][] = [];
  const drain = async (name: string, on: boolean, rate: number | undefined) => { drains.push([name, on, rate]); return name === 'a b' ? 'ok' as const : 'not-found' as const; };
  assert.is((await fixture({}, false, { drain }).route('POST', '/api/brokers/x/drain')).status, 403);
  const token = Buffer.from('0123456789abcdef-token');
  const { route } = fixture({}, false, { drain, token });
  for (const auth of [undefined, '', 'Bearer', 'Bearer 0123456789abcdef-toke', 'Basic 0123456789abcdef-token', 'Bearer 0123456789abcdef-token x']) {
    const r = await route('POST', '/api/brokers/x/drain', auth);
    assert.is(r.status, 401, String(auth));
  }
  assert.equal(drains, [], 'no handler ran');
  const r = await route('POST', '/api/brokers/a%20b/drain?close_rate=5', 'Bearer 0123456789abcdef-token');
  assert.equal([r.status, r.body], [200, { broker: 'a b', draining: true, closeRate: 5 }]);
  assert.is((await route('POST', '/api/brokers/zz/undrain', 'bearer  0123456789abcdef-token')).status, 404);
  assert.equal(drains, [['a b', true, 5], ['zz', false, undefined]]);
  assert.is((await route('POST', '/api/brokers/%E0%A4%A/drain', 'Bearer 0123456789abcdef-token')).status, 400, 'a broken escape');
  assert.is((await route('POST', '/api/brokers//drain', 'Bearer 0123456789abcdef-token')).status, 404, 'an empty name');
  assert.is((await route('GET', '/api/brokers/a/drain')).status, 405);
});

test('the OpenAPI document names exactly the routes served (test hooks aside)', async () => {
  const { openApiDocument } = await import('../../src/admin/openapi.ts');
  const { route } = fixture({});
  const paths = ((await route('GET', '/nope')).body as { paths: string[] }).paths.map((p) => p.replace(/^POST /, '').replace(/\?.*$/, ''));
  assert.equal(Object.keys(openApiDocument.paths).sort(), [...new Set(paths)].sort());
});

test('test hooks exist only when asked for', async () => {
  assert.is((await fixture({}).route('GET', '/debug/throw')).status, 404);
  assert.is((await fixture({}).route('POST', '/debug/crash-worker?id=0')).status, 404);
  assert.is((await fixture({}).route('POST', '/debug/gc')).status, 404);
  const heap = { primary: 3, workers: [{ id: 1, usedHeapBytes: 4 }], total: 7 };
  const hooked = fixture({ crashWorker: () => false, collectGarbage: async () => heap }, true);
  const gc = await hooked.route('POST', '/debug/gc');
  assert.is(gc.status, 200);
  assert.equal(gc.body, heap);
  assert.equal((await hooked.route('GET', '/debug/gc')).headers, { allow: 'POST' });
  // The supervisor says no (SLUICE_TEST_HOOKS unset in its process): 404, as if the hook were absent.
  assert.is((await fixture({ collectGarbage: async () => undefined }, true).route('POST', '/debug/gc')).status, 404);
  assert.is((await hooked.route('GET', '/debug/throw')).status, 500);
  assert.is((await hooked.route('GET', '/debug/throw?async=1')).status, 500);
  assert.is((await hooked.route('POST', '/debug/crash-worker?id=0')).status, 404);
  assert.equal((await hooked.route('GET', '/debug/crash-worker')).headers, { allow: 'POST' });
});

test.run();
