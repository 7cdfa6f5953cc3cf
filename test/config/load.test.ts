// Unit tests: config validation gives the path of every bad key and why; defaults and units resolve.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile, parseConfigText, resolveConfig } from '../../src/config/load.ts';
import { embeddedConfigText } from '../../src/config/embedded.ts';
import { SluiceError } from '../../src/errors.ts';
import { mulberry32 } from '../helpers/random.ts';

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

test('workers: auto means one per CPU, at most 64', () => {
  const c = resolveConfig({ workers: 'auto', brokers: [{ name: 'a', address: '127.0.0.1:1' }] });
  assert.ok(c.workers >= 1 && c.workers <= 64);
});

const brokers = [{ name: 'a', address: '127.0.0.1:1884' }];
const messageOf = (input: Record<string, unknown>) => errorOf(() => resolveConfig({ brokers, ...input }, 'w.yaml')).message;

test('balance.rebalance_rate: off by default; with a strategy that has no hash homes it is refused', () => {
  assert.is(resolveConfig({ brokers }).balance.rebalanceRate, 0);
  assert.is(resolveConfig({ brokers, balance: { rebalance_rate: 50 } }).balance.rebalanceRate, 50);
  assert.is(resolveConfig({ brokers, balance: { strategy: 'consistent-hash', rebalance_rate: 5 } }).balance.rebalanceRate, 5);
  assert.match(messageOf({ balance: { strategy: 'round-robin', rebalance_rate: 5 } }), /balance\.rebalance_rate: moves clients to where consistent hashing places them: needs strategy sticky or consistent-hash/);
  assert.match(messageOf({ balance: { rebalance_rate: -1 } }), /balance\.rebalance_rate/);
});

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

test('coalesce_us: 500 by default, 0 turns coalescing off, whole microseconds up to 10000', () => {
  assert.is(resolveConfig({ brokers }).coalesceUs, 500);
  assert.is(resolveConfig({ brokers, coalesce_us: 0 }).coalesceUs, 0);
  assert.is(resolveConfig({ brokers, coalesce_us: 10_000 }).coalesceUs, 10_000);
  assert.match(messageOf({ coalesce_us: 10_001 }), /coalesce_us/);
  assert.match(messageOf({ coalesce_us: -1 }), /coalesce_us/);
  assert.match(messageOf({ coalesce_us: 2.5 }), /coalesce_us/);
});

test('listeners: protocol mqtt by default; mqtts needs tls with one key per certificate, and a CA to ask for client certificates', () => {
  assert.is(resolveConfig({ brokers }).listeners[0].protocol, 'mqtt');
  const tls = resolveConfig({ brokers, listeners: [{ bind: '127.0.0.1:8883', protocol: 'mqtts', tls: { cert: 's.pem', key: 's.key' } }] }, 'w.yaml', '/etc/sluice').listeners[0].tls!;
  assert.equal(tls.pairs, [{ cert: '/etc/sluice/s.pem', key: '/etc/sluice/s.key' }], 'paths are relative to the config file');
  assert.equal([tls.clientAuth, tls.minVersion, tls.alpn, tls.handshakeTimeoutMs], ['none', 'TLSv1.2', undefined, 10_000]);
  const two = resolveConfig({ brokers, listeners: [{ bind: ':8883', protocol: 'mqtts', tls: { cert: ['/a.pem', '/b.pem'], key: ['/a.key', '/b.key'], ca: '/ca.pem', client_auth: 'required', min_version: 'TLSv1.3', alpn: ['mqtt'], handshake_timeout: '3s' } }] }).listeners[0].tls!;
  assert.equal(two, { pairs: [{ cert: '/a.pem', key: '/a.key' }, { cert: '/b.pem', key: '/b.key' }], ca: '/ca.pem', clientAuth: 'required', minVersion: 'TLSv1.3', alpn: ['mqtt'], handshakeTimeoutMs: 3000 });
  const l = (x: Record<string, unknown>) => messageOf({ listeners: [{ bind: '127.0.0.1:8883', ...x }] });
  assert.match(l({ protocol: 'mqtts' }), /listeners\[0\]\.tls: protocol mqtts needs tls: \{ cert, key \}/);
  assert.match(l({ tls: { cert: 'a', key: 'b' } }), /listeners\[0\]\.protocol: tls: is set but protocol is mqtt/);
  assert.match(l({ protocol: 'mqtts', tls: { cert: ['a', 'b'], key: 'k' } }), /listeners\[0\]\.tls\.key: 2 cert file\(s\) but 1 key file\(s\)/);
  assert.match(l({ protocol: 'mqtts', tls: { cert: 'a', key: 'k', client_auth: 'optional' } }), /listeners\[0\]\.tls\.ca: client_auth: optional needs ca/);
  assert.match(l({ protocol: 'mqtts', tls: { cert: 'a', key: 'k', min_version: 'TLSv1.1' } }), /listeners\[0\]\.tls\.min_version/);
  assert.match(l({ protocol: 'mqtts', tls: { cert: 'a', key: 'k', passphrase: 'x' } }), /listeners\[0\]\.tls/);
  assert.match(l({ protocol: 'websocket' }), /listeners\[0\]\.protocol/);
  assert.match(l({ protocol: 'mqtts', tls: { cert: 'a', key: 'k' }, client_id_must_match: 'cert-cn' }), /listeners\[0\]\.client_id_must_match: needs client certificates/);
  assert.match(l({ client_id_must_match: 'cert-cn' }), /listeners\[0\]\.client_id_must_match: needs client certificates/);
  assert.is(resolveConfig({ brokers, listeners: [{ bind: ':8885', protocol: 'mqtts', client_id_must_match: 'cert-cn', tls: { cert: '/a', key: '/b', ca: '/c', client_auth: 'required' } }] }).listeners[0].clientIdMustMatch, 'cert-cn');
  assert.is(resolveConfig({ brokers }).listeners[0].clientIdMustMatch, undefined);
});

test('listeners: ws and wss take a path (default /mqtt) and max_frame_size (default 1MiB); wss needs tls, ws refuses it', () => {
  const ws = resolveConfig({ brokers, listeners: [{ bind: ':8083', protocol: 'ws' }] }).listeners[0];
  assert.equal([ws.protocol, ws.ws, ws.tls], ['ws', { path: '/mqtt', maxFrameBytes: 1024 ** 2 }, undefined]);
  const wss = resolveConfig({ brokers, listeners: [{ bind: ':8084', protocol: 'wss', path: '/m', max_frame_size: '64KiB', tls: { cert: '/a', key: '/b' } }] }).listeners[0];
  assert.equal([wss.ws, wss.tls?.pairs], [{ path: '/m', maxFrameBytes: 65536 }, [{ cert: '/a', key: '/b' }]]);
  assert.is(resolveConfig({ brokers }).listeners[0].ws, undefined);
  const l = (x: Record<string, unknown>) => messageOf({ listeners: [{ bind: '127.0.0.1:8083', ...x }] });
  assert.match(l({ protocol: 'wss' }), /listeners\[0\]\.tls: protocol wss needs tls/);
  assert.match(l({ protocol: 'ws', tls: { cert: 'a', key: 'b' } }), /listeners\[0\]\.protocol: tls: is set but protocol is ws \(no TLS\): use protocol: wss/);
  assert.match(l({ path: '/mqtt' }), /listeners\[0\]\.path: only for protocol ws or wss \(this listener is mqtt\)/);
  assert.match(l({ protocol: 'mqtts', max_frame_size: '1MiB', tls: { cert: 'a', key: 'b' } }), /listeners\[0\]\.max_frame_size: only for protocol ws or wss/);
  assert.match(l({ protocol: 'ws', path: 'mqtt' }), /listeners\[0\]\.path: an absolute path/);
  assert.match(l({ protocol: 'ws', path: '/mqtt?x=1' }), /listeners\[0\]\.path: an absolute path/);
  assert.match(l({ protocol: 'ws', max_frame_size: 10 }), /listeners\[0\]\.max_frame_size: 10 is out of range/);
});

test('listeners: accept_proxy_protocol off by default, a boolean on any protocol', () => {
  assert.is(resolveConfig({ brokers }).listeners[0].acceptProxyProtocol, false);
  assert.is(resolveConfig({ brokers, listeners: [{ bind: ':1883', accept_proxy_protocol: true }] }).listeners[0].acceptProxyProtocol, true);
  assert.is(resolveConfig({ brokers, listeners: [{ bind: ':8083', protocol: 'ws', accept_proxy_protocol: true }] }).listeners[0].acceptProxyProtocol, true);
  assert.match(messageOf({ listeners: [{ bind: ':1883', accept_proxy_protocol: 'yes' }] }), /listeners\[0\]\.accept_proxy_protocol/);
});

test('brokers: proxy_protocol none by default, or v2', () => {
  assert.is(resolveConfig({ brokers }).brokers[0].proxyProtocol, 'none');
  assert.is(resolveConfig({ brokers: [{ ...brokers[0], proxy_protocol: 'v2' }] }).brokers[0].proxyProtocol, 'v2');
  assert.match(messageOf({ brokers: [{ ...brokers[0], proxy_protocol: 'v1' }] }), /brokers\[0\]\.proxy_protocol/);
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

const bomb = `
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
`;

test('a YAML alias bomb (billion laughs) is SLUICE_ERR_CONFIG, not a ReferenceError', () => {
  const e = errorOf(() => parseConfigText(bomb, 'bomb.yaml'));
  assert.is(e.code, 'SLUICE_ERR_CONFIG');
  assert.match(e.message, /^bomb\.yaml is invalid:\n {2}\(file\): YAML aliases expand too far/);
  // Ordinary anchors still work.
  const c = parseConfigText('brokers:\n  - { name: a, address: 127.0.0.1:1884, weight: &w 3 }\n  - { name: b, address: 127.0.0.1:1885, weight: *w }\n', 'ok.yaml');
  assert.equal(c.brokers.map((b) => b.weight), [3, 3]);
});

test('no YAML text throws anything but SLUICE_ERR_CONFIG out of parseConfigText', () => {
  const nasty = [
    '['.repeat(50_000) + ']'.repeat(50_000), // deep nesting
    Array.from({ length: 5000 }, (_, i) => `${' '.repeat(i)}a:`).join('\n'),
    'workers: &a [*a]', // an alias of its own parent: a cyclic value
    'brokers: &a [{ name: a, address: *a }]',
    'workers: *nowhere',
    'workers: !!int x', 'workers: !custom 1', 'a: 1\n---\nb: 2\n',
    'workers: !!binary aGVsbG8=', '%YAML 1.1\n---\nworkers: !!set { 1 }\nbrokers: !!omap [ a: 1 ]\n',
    '%YAML 1.1\n---\nx: &x { workers: 2 }\n<<: *x\n', '? [a, b]\n: 1\n', '__proto__: { workers: 2 }\n',
    'workers: 1\u0000\n', 'workers: "\ud800"\n', '\ufeffworkers: 1\n', '\t\u0007: \u001b', '&a', '*a', '!', '%', '---\n...\n---',
  ];
  const rand = mulberry32(10);
  const example = embeddedConfigText;
  const alphabet = [...'[]{}:,-?&*!|>%@`\'"#\n \t0123456789.ax\\'];
  for (let i = 0; i < 1500; i++) {
    // Random edits of a valid config: inserted, deleted and replaced characters.
    let t = example;
    for (let k = 1 + Math.floor(rand() * 4); k > 0; k--) {
      const at = Math.floor(rand() * (t.length + 1));
      const ch = alphabet[Math.floor(rand() * alphabet.length)];
      const op = rand();
      t = op < 0.4 ? t.slice(0, at) + ch + t.slice(at) : op < 0.7 ? t.slice(0, at) + t.slice(at + 1) : t.slice(0, at) + ch + t.slice(at + 1);
    }
    nasty.push(t);
  }
  for (const text of nasty) {
    try {
      parseConfigText(text, 'fuzz.yaml');
    } catch (err) {
      assert.instance(err, SluiceError, `${JSON.stringify(text.slice(0, 80))} threw ${(err as Error)?.stack}`);
      assert.is((err as SluiceError).code, 'SLUICE_ERR_CONFIG');
      assert.ok((err as Error).message.startsWith('fuzz.yaml '), (err as Error).message);
    }
  }
});

const dir = mkdtempSync(join(tmpdir(), 'sluice-load-'));
const goodYaml = 'brokers: [{ name: a, address: 127.0.0.1:1884 }]\n';
const fileError = (name: string, content: string | Uint8Array) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return errorOf(() => loadConfigFile(path)).message.replace(path, name);
};

test('a config file over 1 MiB is refused before parsing, with its size', () => {
  const oversized = goodYaml + `#${'x'.repeat(1024 * 1024)}\n`;
  assert.is(fileError('big.yaml', oversized), `big.yaml is invalid:\n  (file): ${oversized.length} bytes (1 MiB) is too large: a config file is at most 1048576 bytes (1 MiB)`);
  assert.match(fileError('huge.yaml', `#${'x'.repeat(3 * 1024 * 1024)}`), /3145729 bytes \(3 MiB\) is too large/);
  // Exactly the limit is fine.
  const atLimit = join(dir, 'at-limit.yaml');
  writeFileSync(atLimit, goodYaml + `#${'x'.repeat(1024 * 1024 - goodYaml.length - 2)}\n`);
  assert.is(loadConfigFile(atLimit).brokers.length, 1);
  // A device or pipe has no size up front: at most one byte past the limit is read.
  assert.match(errorOf(() => loadConfigFile('/dev/zero')).message, /^\/dev\/zero is invalid:\n {2}\(file\): more than 1048576 bytes \(1 MiB\) is too large for a config file$/);
});

test('a file that is not UTF-8 text is refused with where it goes wrong', () => {
  assert.is(fileError('nul.yaml', `${goodYaml}workers: 1\0\n`), `nul.yaml is invalid:\n  (file): a NUL byte at line 2 (byte ${goodYaml.length + 10}): a config file is UTF-8 text`);
  assert.is(fileError('latin1.yaml', Buffer.concat([Buffer.from(`${goodYaml}# caf`), Buffer.from([0xe9]), Buffer.from('\n')])),
    'latin1.yaml is invalid:\n  (file): not UTF-8 text: line 2 has bytes that are not UTF-8');
  assert.is(fileError('utf16.yaml', Buffer.from(`\ufeff${goodYaml}`, 'utf16le')), 'utf16.yaml is invalid:\n  (file): UTF-16 text: save it as UTF-8');
  // UTF-8 itself, with a byte order mark or not, is fine.
  const bom = join(dir, 'bom.yaml');
  writeFileSync(bom, `\ufeff${goodYaml}# café ✓\n`);
  assert.is(loadConfigFile(bom).brokers[0].name, 'a');
  assert.match(errorOf(() => loadConfigFile(dir)).message, /cannot read config file .*EISDIR/);
});

test.run();
