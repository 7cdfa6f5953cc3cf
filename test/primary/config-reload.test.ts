// changedKeys: which keys a reload sees changed; limits.idle and log.level are told apart from the rest of
// their objects (they apply live, the rest at a restart).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { changedKeys } from '../../src/primary/config-reload.ts';
import { resolveConfig } from '../../src/config/load.ts';

const base = { brokers: [{ name: 'a', address: '127.0.0.1:1884' }] };
const keysFor = (more: Record<string, unknown>) => changedKeys(resolveConfig(base), resolveConfig({ ...base, ...more }));

test('live keys and restart keys', () => {
  assert.equal(keysFor({}), []);
  assert.equal(keysFor({ limits: { idle: '90s' } }), ['limits.idle']);
  assert.equal(keysFor({ limits: { connect_timeout: '3s' } }), ['limits']);
  assert.equal(keysFor({ log: { level: 'debug' } }), ['log']);
  assert.equal(keysFor({ log: { format: 'pretty' } }), ['log.format']);
  assert.equal(keysFor({ discovery: [{ type: 'file', path: '/tmp/x.json' }] }), ['discovery']);
  assert.equal(keysFor({ shutdown: { drain_timeout: '5s' } }), ['shutdown']);
});

test.run();
