// Unit tests: config validation gives the path of every bad key and why; defaults and units resolve.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfigText, resolveConfig } from '../../src/config/load.ts';
import { embeddedConfigText } from '../../src/config/embedded.ts';
import { SluiceError } from '../../src/errors.ts';

function errorOf(fn: () => unknown): SluiceError {
  try { fn(); } catch (err) { assert.instance(err, SluiceError); return err as SluiceError; }
  throw new Error('expected a config error');
}

test('the documented example resolves with units and defaults', () => {
  const c = parseConfigText(`
workers: 2
listeners:
  - bind: 127.0.0.1:1883
brokers:
  - { name: a, address: 127.0.0.1:1884, weight: 1 }
  - { name: b, address: 127.0.0.1:1885, weight: 3 }
balance:
  strategy: sticky
  key: [client-id, username, source-address]
sticky: { capacity: 1048576, ttl: 2h }
limits: { connect_timeout: 10s, max_connect_size: 64KiB }
admin: { bind: 127.0.0.1:9100 }
`, 't.yaml');
  assert.is(c.workers, 2);
  assert.equal(c.listeners[0].bind, { address: '127.0.0.1:1883', host: '127.0.0.1', port: 1883 });
  assert.equal(c.brokers.map((b) => [b.name, b.port, b.weight]), [['a', 1884, 1], ['b', 1885, 3]]);
  assert.is(c.sticky.ttlSec, 7200);
  assert.is(c.limits.connectTimeoutMs, 10_000);
  assert.is(c.limits.maxConnectBytes, 65_536);
  assert.is(c.limits.connectRatePerSec, 0);
  assert.is(c.admin?.bind.port, 9100);
  assert.is(c.balance.loadBound, 1.25);
});

test('every bad key is reported with its path and reason', () => {
  const e = errorOf(() => resolveConfig({
    workers: 0,
    brokers: [{ name: 'a', address: 'nowhere' }, { name: 'a', address: '127.0.0.1:1', weight: -1 }],
    balance: { strategy: 'fastest' },
    limits: { connect_timeout: 'soon' },
    typo_key: true,
  }, 'bad.yaml'));
  assert.is(e.code, 'SLUICE_ERR_CONFIG');
  for (const expected of ['workers:', 'brokers[0].address: not host:port', 'brokers[1].weight', 'balance.strategy', 'limits.connect_timeout: not a duration', 'typo_key']) {
    assert.ok(e.message.includes(expected), `message mentions ${expected}:\n${e.message}`);
  }
});

test('duplicate broker names and addresses, no brokers, all weights zero', () => {
  assert.match(errorOf(() => resolveConfig({ brokers: [{ name: 'a', address: '127.0.0.1:1' }, { name: 'a', address: '127.0.0.1:1' }] })).message,
    /brokers\[1\]\.name: duplicate broker name "a"[\s\S]*brokers\[1\]\.address: duplicate broker address/);
  assert.match(errorOf(() => resolveConfig({})).message, /brokers: at least one broker is required/);
  assert.match(errorOf(() => resolveConfig({ brokers: [{ name: 'a', address: '127.0.0.1:1', weight: 0 }] })).message, /every broker has weight 0/);
});

test('YAML syntax errors and duplicate keys are refused with a position', () => {
  assert.match(errorOf(() => parseConfigText('workers: [1, 2', 'x.yaml')).message, /x\.yaml is not valid YAML/);
  assert.match(errorOf(() => parseConfigText('workers: 1\nworkers: 2\n', 'x.yaml')).message, /not valid YAML[\s\S]*[Dd]uplicate|unique/);
});

test('the embedded default is a demo cluster of three brokers behind 127.0.0.1:1883', () => {
  const c = parseConfigText(embeddedConfigText, 'embedded');
  assert.equal(c.listeners.map((l) => l.bind.address), ['127.0.0.1:1883']);
  assert.equal(c.brokers.map((b) => b.address), ['127.0.0.1:1884', '127.0.0.1:1885', '127.0.0.1:1886']);
  assert.is(c.balance.strategy, 'sticky');
  assert.equal(c.demo, { brokers: 3, host: '127.0.0.1', firstPort: 1884, engine: 'auto' });
});

test('demo: engine defaults to auto; a bad engine, an unknown key and ports past 65535 are refused', () => {
  assert.is(resolveConfig({ demo: {} }).demo?.engine, 'auto');
  assert.is(resolveConfig({ demo: { engine: 'aedes' } }).demo?.engine, 'aedes');
  const e = errorOf(() => resolveConfig({ demo: { engine: 'nats', colour: 'blue' } }));
  assert.match(e.message, /demo\.engine: Invalid option: expected one of "auto"\|"mosquitto"\|"aedes"/);
  assert.match(e.message, /demo: Unrecognized key: "colour"/);
  assert.match(errorOf(() => resolveConfig({ demo: { brokers: 3, first_port: 65534 } })).message, /demo\.first_port: the demo brokers take first_port \.\. first_port \+ brokers - 1: past 65535/);
});

test('workers: auto means one per CPU', () => {
  const c = resolveConfig({ workers: 'auto', brokers: [{ name: 'a', address: '127.0.0.1:1' }] });
  assert.ok(c.workers >= 1);
});

test.run();
