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
  assert.ok(c.demo);
});

test('workers: auto means one per CPU, at most 64', () => {
  const c = resolveConfig({ workers: 'auto', brokers: [{ name: 'a', address: '127.0.0.1:1' }] });
  assert.ok(c.workers >= 1 && c.workers <= 64);
});

const brokers = [{ name: 'a', address: '127.0.0.1:1884' }];
const messageOf = (input: Record<string, unknown>) => errorOf(() => resolveConfig({ brokers, ...input }, 'w.yaml')).message;

test('workers: a whole number 1..64 or "auto", said exactly that with the value given', () => {
  for (const [value, shown] of [[256, '256'], [1.5, '1.5'], [65, '65'], [0, '0'], [-1, '-1'], ['many', '"many"'], [Infinity, 'Infinity'], [null, 'null']] as const) {
    const m = messageOf({ workers: value });
    assert.ok(m.startsWith('w.yaml is invalid:\n'), m);
    assert.ok(m.includes(`  workers: must be a whole number from 1 to 64, or "auto" (got ${shown})`), m);
  }
  assert.is(resolveConfig({ brokers, workers: 64 }).workers, 64);
  assert.is(resolveConfig({ brokers, workers: 1 }).workers, 1);
});

test('timer durations: more than 0 and at most 2^31-1 ms (setTimeout turns longer into 1 ms)', () => {
  for (const key of ['connect_timeout', 'broker_connect_timeout']) {
    assert.match(messageOf({ limits: { [key]: '30d' } }), new RegExp(`limits\\.${key}: "30d" is too long: a timer can wait at most 2147483647ms \\(about 24\\.8 days\\); use at most 24d`));
    assert.match(messageOf({ limits: { [key]: 2 ** 31 } }), new RegExp(`limits\\.${key}: 2147483648 is too long`));
    assert.match(messageOf({ limits: { [key]: 0 } }), new RegExp(`limits\\.${key}: 0 is too short: must be at least 1ms`));
    assert.match(messageOf({ limits: { [key]: '0s' } }), new RegExp(`limits\\.${key}: "0s" is too short`));
  }
  const c = resolveConfig({ brokers, limits: { connect_timeout: '24d', broker_connect_timeout: 2 ** 31 - 1 } });
  assert.is(c.limits.connectTimeoutMs, 24 * 86_400_000);
  assert.is(c.limits.brokerConnectTimeoutMs, 2 ** 31 - 1);
});

test('durations and sizes from YAML: 1e400 (Infinity), .nan and negatives say what is wrong', () => {
  const m = errorOf(() => parseConfigText(`
brokers: [{ name: a, address: 127.0.0.1:1884 }]
sticky: { ttl: .nan }
limits: { connect_timeout: 1e400, broker_connect_timeout: -5s, max_connect_size: -1 }
`, 'n.yaml')).message;
  assert.match(m, /sticky\.ttl: not a duration: NaN/);
  assert.match(m, /limits\.connect_timeout: duration too large: Infinity/);
  assert.match(m, /limits\.broker_connect_timeout: negative duration: "-5s"/);
  assert.match(m, /limits\.max_connect_size: negative size: -1/);
  assert.match(messageOf({ limits: { max_connect_size: [1] } }), /limits\.max_connect_size: not a size: a list/);
  assert.match(messageOf({ limits: { max_connect_size: '1GiB' } }), /limits\.max_connect_size: "1GiB" is out of range: must be from 64B to 256MiB/);
});

test('sticky.ttl: whole seconds from 1s to 365d (pins age as an int32 count of seconds)', () => {
  assert.match(messageOf({ sticky: { ttl: '400d' } }), /sticky\.ttl: "400d" is too long: pins live at most 365d/);
  assert.match(messageOf({ sticky: { ttl: '500ms' } }), /sticky\.ttl: "500ms" is too short: must be at least 1s/);
  assert.match(messageOf({ sticky: { ttl: 0 } }), /sticky\.ttl: 0 is too short/);
  assert.is(resolveConfig({ brokers, sticky: { ttl: '365d' } }).sticky.ttlSec, 365 * 86_400);
  assert.is(resolveConfig({ brokers, sticky: { ttl: '1400ms' } }).sticky.ttlSec, 1);
  assert.is(resolveConfig({ brokers, sticky: { ttl: '1s' } }).sticky.ttlSec, 1);
});

test('port 0 is refused for listeners, admin and brokers, with the key path', () => {
  const m = messageOf({ listeners: [{ bind: '127.0.0.1:1883' }, { bind: ':0' }], admin: { bind: '127.0.0.1:0' }, brokers: [{ name: 'a', address: '127.0.0.1:0' }] });
  assert.match(m, /listeners\[1\]\.bind: port 0 would make each worker thread listen on a different random port: give a fixed port 1-65535/);
  assert.match(m, /admin\.bind: port 0 would make the admin endpoint listen on a random port/);
  assert.match(m, /brokers\[0\]\.address: port 0 is not a port a broker listens on/);
  assert.not.match(m, /listeners\[0\]/);
});

test('a broker address needs a host; demo broker ports must fit below 65536', () => {
  assert.match(messageOf({ brokers: [{ name: 'a', address: ':1884' }] }), /brokers\[0\]\.address: ":1884" has no host: a broker address needs one \(e\.g\. 127\.0\.0\.1:1884\)/);
  assert.match(errorOf(() => resolveConfig({ demo: { brokers: 3, first_port: 65534 } })).message, /demo\.first_port: 3 demo brokers from port 65534 would need ports past 65535/);
  assert.is(resolveConfig({ demo: { brokers: 2, first_port: 65534 } }).brokers[1].port, 65535);
});

test(':port listens on every address: the resolved listener has no host (dual stack), not 0.0.0.0', () => {
  const c = resolveConfig({ brokers, listeners: [{ bind: ':1883' }], admin: { bind: ':9100' } });
  assert.equal(c.listeners[0].bind, { address: ':1883', host: undefined, port: 1883 });
  assert.equal(c.admin?.bind, { address: ':9100', host: undefined, port: 9100 });
});

test.run();
