// The health and drain keys of the config: defaults, units, the password file (read by the primary, one
// trailing newline dropped), and the mistakes an operator can make with them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile, parseConfigText } from '../../src/config/load.ts';
import { readProbePassword } from '../../src/health/credentials.ts';
import { SluiceError } from '../../src/errors.ts';

const brokers = 'brokers: [{ name: a, address: 127.0.0.1:1884, drain: true }, { name: b, address: 127.0.0.1:1885 }]\n';

function errorOf(fn: () => unknown): SluiceError {
  try { fn(); } catch (err) { assert.instance(err, SluiceError); return err as SluiceError; }
  throw new Error('expected a config error');
}

test('health checks are off unless health.mqtt is set; its defaults and units', () => {
  assert.is(parseConfigText(brokers, 't.yaml').health.mqtt, undefined);
  const c = parseConfigText(`${brokers}health: { mqtt: { interval: 1s } }\n`, 't.yaml');
  assert.equal(c.health.mqtt, { intervalMs: 1000, timeoutMs: 1000, rise: 2, fall: 2, clientIdPrefix: 'sluice-hc-', username: undefined, passwordFile: undefined, protocolVersion: 4 });
  assert.equal(c.brokers.map((b) => b.drain), [true, false]);
});

test('password_file is relative to the config file, read with one trailing newline dropped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-hc-'));
  writeFileSync(join(dir, 'probe.pw'), 'p@ss word\n');
  writeFileSync(join(dir, 'sluice.yaml'), `${brokers}health: { mqtt: { username: probe, password_file: probe.pw, protocol_version: 5 } }\n`);
  const c = loadConfigFile(join(dir, 'sluice.yaml'));
  assert.is(c.health.mqtt?.passwordFile, join(dir, 'probe.pw'));
  assert.is(readProbePassword(c, 'sluice.yaml')?.toString(), 'p@ss word');
  writeFileSync(join(dir, 'probe.pw'), 'crlf\r\n');
  assert.is(readProbePassword(c, 'sluice.yaml')?.toString(), 'crlf');
});

test('mistakes: a password without a user name, a missing password file, timings out of range', () => {
  assert.match(errorOf(() => parseConfigText(`${brokers}health: { mqtt: { password_file: x } }\n`, 't.yaml')).message, /health\.mqtt\.password_file: needs username/);
  assert.match(errorOf(() => parseConfigText(`${brokers}health: { mqtt: { interval: 10ms, rise: 0 } }\n`, 't.yaml')).message, /health\.mqtt\.interval: .*too short[\s\S]*health\.mqtt\.rise/);
  assert.match(errorOf(() => parseConfigText(`${brokers}health: { mqtt: { client_id_prefix: "a b" } }\n`, 't.yaml')).message, /client_id_prefix/);
  assert.match(errorOf(() => parseConfigText(`${brokers}health: { http: { port: 18083 } }\n`, 't.yaml')).message, /health\.http: runs with the MQTT probe/);
  assert.equal(parseConfigText(`${brokers}health: { mqtt: {}, http: { port: 18083, path: /health } }\n`, 't.yaml').health.http, { scheme: 'http', port: 18083, path: '/health' });
  const c = parseConfigText(`${brokers}health: { mqtt: { username: u, password_file: /nonexistent/pw } }\n`, 't.yaml');
  const err = errorOf(() => readProbePassword(c, 't.yaml'));
  assert.is(err.code, 'SLUICE_ERR_CONFIG');
  assert.match(err.message, /health\.mqtt\.password_file: cannot read \/nonexistent\/pw: ENOENT/);
});

test.run();
