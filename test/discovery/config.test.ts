// The discovery: keys: each source type's defaults, paths relative to the config file, and mistakes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfigText } from '../../src/config/load.ts';
import { SluiceError } from '../../src/errors.ts';

function errorOf(fn: () => unknown): SluiceError {
  try { fn(); } catch (err) { assert.instance(err, SluiceError); return err as SluiceError; }
  throw new Error('expected a config error');
}

test('sources resolve with defaults; discovery alone is enough (no static brokers)', () => {
  const c = parseConfigText(`
discovery:
  - { type: http, url: "http://127.0.0.1:8080/brokers", token_file: token }
  - { type: dns, name: brokers.mqtt.internal, record: SRV, resolver: 127.0.0.1:5353, interval: 5s }
  - { type: dns, name: brokers.mqtt.internal, resolver: "::1" }
  - { type: file, path: brokers.yaml }
`, 't.yaml', '/etc/sluice');
  assert.equal(c.brokers, []);
  assert.equal(c.discovery, [
    { type: 'http', url: 'http://127.0.0.1:8080/brokers', intervalMs: 5000, timeoutMs: 2000, format: 'sluice', mqttPort: 1883, tokenFile: '/etc/sluice/token', allowEmpty: false },
    { type: 'dns', name: 'brokers.mqtt.internal', record: 'SRV', port: 1883, resolver: '127.0.0.1:5353', intervalMs: 5000, allowEmpty: false },
    { type: 'dns', name: 'brokers.mqtt.internal', record: 'A', port: 1883, resolver: '[::1]:53', intervalMs: 5000, allowEmpty: false },
    { type: 'file', path: '/etc/sluice/brokers.yaml', intervalMs: 5000, allowEmpty: false },
  ]);
});

test('mistakes: an unknown type, a URL that is not http(s), a bad resolver, no brokers and no discovery', () => {
  assert.match(errorOf(() => parseConfigText('discovery: [{ type: consul, name: x }]\n', 't.yaml')).message, /discovery\[0\]/);
  assert.match(errorOf(() => parseConfigText('discovery: [{ type: http, url: "ftp://x/y" }]\n', 't.yaml')).message, /discovery\[0\]\.url/);
  assert.match(errorOf(() => parseConfigText('discovery: [{ type: dns, name: x, resolver: "a b c" }]\n', 't.yaml')).message, /discovery\[0\]\.resolver: not a DNS server address/);
  assert.match(errorOf(() => parseConfigText('workers: 1\n', 't.yaml')).message, /brokers: at least one broker is required \(or a demo: block, or discovery:\)/);
});

test.run();
