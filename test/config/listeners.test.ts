// Unit tests: listener and admin hosts resolve to IPs before workers start; one address written two
// ways (a name and its IP, two IPv6 spellings, a wildcard and a specific IP) is a config error.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lookup } from 'node:dns/promises';
import { resolveConfig } from '../../src/config/load.ts';
import { describeListenHost, resolveListenerAddresses, type LookupFn } from '../../src/config/listeners.ts';
import { SluiceError } from '../../src/errors.ts';

const brokers = [{ name: 'a', address: '127.0.0.1:1884' }];
const hosts: Record<string, string> = { localhost: '127.0.0.1', 'ip6-localhost': '::1', 'mqtt.example': '10.0.0.7' };
const fakeLookup: LookupFn = async (host) => {
  const address = hosts[host];
  if (!address) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return { address };
};

function configWith(binds: string[], admin?: string) {
  return resolveConfig({ brokers, listeners: binds.map((bind) => ({ bind })), admin: admin ? { bind: admin } : undefined }, 'l.yaml');
}

async function errorOf(binds: string[], admin?: string): Promise<string> {
  try {
    await resolveListenerAddresses(configWith(binds, admin), 'l.yaml', fakeLookup);
  } catch (err) {
    assert.instance(err, SluiceError);
    assert.is((err as SluiceError).code, 'SLUICE_ERR_CONFIG');
    return (err as Error).message;
  }
  throw new Error(`expected a config error for ${binds.join(', ')}`);
}

test('a name and its IP on one port are one address: an error naming both keys', async () => {
  assert.is(await errorOf(['127.0.0.1:1883', 'localhost:1883']),
    'l.yaml is invalid:\n  listeners[1].bind: localhost:1883 is the same address as listeners[0].bind (127.0.0.1:1883): both are 127.0.0.1:1883');
  assert.is(await errorOf(['localhost:1883', 'localhost:1883']),
    'l.yaml is invalid:\n  listeners[1].bind: localhost:1883 is the same address as listeners[0].bind (localhost:1883): both are 127.0.0.1:1883');
});

test('the same string twice, and two spellings of one IPv6 address, are duplicates', async () => {
  assert.is(await errorOf(['127.0.0.1:1883', '127.0.0.1:1883']),
    'l.yaml is invalid:\n  listeners[1].bind: 127.0.0.1:1883 is the same address as listeners[0].bind (127.0.0.1:1883)');
  assert.match(await errorOf(['[::1]:1883', '[0:0:0:0:0:0:0:1]:1883']), /listeners\[1\]\.bind: \[0:0:0:0:0:0:0:1\]:1883 is the same address as listeners\[0\]\.bind \(\[::1\]:1883\)/);
  assert.match(await errorOf(['[::1]:1883', 'ip6-localhost:1883']), /listeners\[1\]\.bind: ip6-localhost:1883 is the same address as listeners\[0\]\.bind \(\[::1\]:1883\): both are \[::1\]:1883/);
  assert.match(await errorOf(['127.0.0.1:1883', '[::ffff:127.0.0.1]:1883']), /listeners\[1\]\.bind: \[::ffff:127\.0\.0\.1\]:1883 is the same address as listeners\[0\]\.bind/);
  assert.match(await errorOf([':1883', '[::]:1883']), /listeners\[1\]\.bind: \[::\]:1883 is the same address as listeners\[0\]\.bind \(:1883\)/);
  assert.match(await errorOf(['0.0.0.0:1883', '[::ffff:0.0.0.0]:1883']), /listeners\[1\]\.bind: .* is the same address as listeners\[0\]\.bind \(0\.0\.0\.0:1883\)/);
});

test('a wildcard and a specific address on one port overlap, in either order', async () => {
  assert.is(await errorOf([':1883', '127.0.0.1:1883']),
    'l.yaml is invalid:\n  listeners[1].bind: 127.0.0.1:1883 overlaps listeners[0].bind (:1883): :1883 listens on every address (IPv6 and IPv4) of port 1883');
  assert.is(await errorOf(['localhost:1883', '0.0.0.0:1883']),
    'l.yaml is invalid:\n  listeners[1].bind: 0.0.0.0:1883 overlaps listeners[0].bind (localhost:1883): 0.0.0.0:1883 listens on every IPv4 address of port 1883');
  assert.match(await errorOf(['[::]:1883', '[::1]:1883']), /listeners\[1\]\.bind: \[::1\]:1883 overlaps listeners\[0\]\.bind \(\[::\]:1883\)/);
  assert.match(await errorOf(['0.0.0.0:1883', ':1883']), /listeners\[1\]\.bind: :1883 overlaps listeners\[0\]\.bind \(0\.0\.0\.0:1883\): :1883 listens on every address \(IPv6 and IPv4\)/);
  assert.match(await errorOf(['[::]:1883', '0.0.0.0:1883']), /listeners\[1\]\.bind: 0\.0\.0\.0:1883 overlaps listeners\[0\]\.bind \(\[::\]:1883\): \[::\]:1883 listens on every address/);
});

test('the admin endpoint on a listener address is an error too', async () => {
  assert.is(await errorOf(['127.0.0.1:1883'], 'localhost:1883'),
    'l.yaml is invalid:\n  admin.bind: localhost:1883 is the same address as listeners[0].bind (127.0.0.1:1883): both are 127.0.0.1:1883');
  assert.match(await errorOf([':1883'], '127.0.0.1:1883'), /admin\.bind: 127\.0\.0\.1:1883 overlaps listeners\[0\]\.bind \(:1883\)/);
});

test('admin: loopback by default; another address needs admin.token_file', async () => {
  assert.equal(resolveConfig({ brokers, admin: {} }, 'l.yaml').admin?.bind.address, '127.0.0.1:9100');
  for (const bind of ['127.0.0.1:9100', '[::1]:9100', 'localhost:9100', '127.0.0.2:9100', '[::ffff:127.0.0.1]:9100']) {
    const c = await resolveListenerAddresses(configWith(['127.0.0.1:1883'], bind), 'l.yaml', fakeLookup);
    assert.ok(c.admin, bind);
  }
  for (const bind of [':9100', '0.0.0.0:9100', '10.0.0.7:9100', 'mqtt.example:9100']) {
    assert.match(await errorOf(['127.0.0.1:1883'], bind), /admin\.bind: .* is not a loopback address: set admin\.token_file/, bind);
  }
  const withToken = resolveConfig({ brokers, admin: { bind: '0.0.0.0:9100', token_file: 'admin.token' } }, 'l.yaml', '/etc/sluice');
  assert.is(withToken.admin?.tokenFile, '/etc/sluice/admin.token');
  assert.ok((await resolveListenerAddresses(withToken, 'l.yaml', fakeLookup)).admin);
});

test('every problem is listed, an unresolvable name included', async () => {
  const m = await errorOf(['127.0.0.1:1883', 'localhost:1883', 'nowhere.invalid:1884', ':1885', '[::1]:1885']);
  assert.is(m, [
    'l.yaml is invalid:',
    '  listeners[1].bind: localhost:1883 is the same address as listeners[0].bind (127.0.0.1:1883): both are 127.0.0.1:1883',
    '  listeners[2].bind: cannot resolve host "nowhere.invalid" (ENOTFOUND)',
    '  listeners[4].bind: [::1]:1885 overlaps listeners[3].bind (:1885): :1885 listens on every address (IPv6 and IPv4) of port 1885',
  ].join('\n'));
});

test('distinct addresses are fine: other ports, other IPs, IPv4 wildcard beside an IPv6 address', async () => {
  const c = await resolveListenerAddresses(configWith(
    ['localhost:1883', '127.0.0.2:1883', ':1884', '0.0.0.0:1885', '[::1]:1885', 'mqtt.example:1883'], 'localhost:9100'), 'l.yaml', fakeLookup);
  // Names became IPs (workers bind those); ":port" stays host undefined (dual stack); `address` is as written.
  assert.equal(c.listeners.map((l) => [l.bind.address, l.bind.host, l.bind.port]), [
    ['localhost:1883', '127.0.0.1', 1883], ['127.0.0.2:1883', '127.0.0.2', 1883], [':1884', undefined, 1884],
    ['0.0.0.0:1885', '0.0.0.0', 1885], ['[::1]:1885', '::1', 1885], ['mqtt.example:1883', '10.0.0.7', 1883],
  ]);
  assert.equal(c.admin?.bind, { address: 'localhost:9100', host: '127.0.0.1', port: 9100 });
  assert.is(describeListenHost(c.listeners[0].bind), '127.0.0.1');
  assert.match(describeListenHost(c.listeners[2].bind), /^every address, IPv6 and IPv4/);
  assert.is(describeListenHost(c.listeners[3].bind), 'every IPv4 address');
});

test('the default lookup is the system resolver, as server.listen(host) would use it', async () => {
  const expected = (await lookup('localhost')).address;
  const c = await resolveListenerAddresses(configWith(['localhost:1883']), 'l.yaml');
  assert.is(c.listeners[0].bind.host, expected);
});

test.run();
