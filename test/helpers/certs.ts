// Test certificates, made fresh by `openssl` in a temp dir for each test file (never committed keys):
// a CA; a server certificate for 127.0.0.1 and localhost; a second one for other.test (SNI); client
// certificates (valid, expired, and one from a CA nobody trusts). EC P-256 keys: quick to make.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type TestCerts = {
  dir: string;
  ca: string; // CA certificate (PEM file)
  server: { cert: string; key: string }; // IP:127.0.0.1, DNS:localhost
  other: { cert: string; key: string }; // DNS:other.test
  client: { cert: string; key: string }; // CN=device-1, signed by the CA
  expiredClient: { cert: string; key: string }; // CN=old-device, signed by the CA, expired in 2020
  strangerClient: { cert: string; key: string }; // CN=stranger, self-signed
  remove(): void;
};

const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-certs-'));
  const f = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('req', '-x509', ...ecKey, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '30', '-subj', '/CN=Sluice Test CA');

  const signed = (name: string, subject: string, san?: string) => {
    openssl('req', '-new', ...ecKey, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', subject);
    const ext = f(`${name}.ext`);
    writeFileSync(ext, san ? `subjectAltName=${san}\n` : 'basicConstraints=CA:FALSE\n');
    openssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
      '-days', '30', '-extfile', ext, '-out', f(`${name}.pem`));
    return { cert: f(`${name}.pem`), key: f(`${name}.key`) };
  };
  const server = signed('server', '/CN=sluice-test', 'IP:127.0.0.1,DNS:localhost');
  const other = signed('other', '/CN=other.test', 'DNS:other.test');
  const client = signed('client', '/CN=device-1');

  // Expired: `openssl ca` takes explicit dates (x509 -req cannot date a certificate in the past).
  writeFileSync(f('index.txt'), '');
  writeFileSync(f('serial'), '1000\n');
  writeFileSync(f('ca.cnf'), [
    '[ca]', 'default_ca = test', '[test]', `dir = ${dir}`, `database = ${f('index.txt')}`, `new_certs_dir = ${dir}`,
    `serial = ${f('serial')}`, 'default_md = sha256', 'policy = any', 'unique_subject = no', '[any]', 'commonName = supplied', '',
  ].join('\n'));
  openssl('req', '-new', ...ecKey, '-keyout', f('expired.key'), '-out', f('expired.csr'), '-subj', '/CN=old-device');
  openssl('ca', '-batch', '-config', f('ca.cnf'), '-cert', f('ca.pem'), '-keyfile', f('ca.key'), '-in', f('expired.csr'),
    '-out', f('expired.pem'), '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-notext');

  openssl('req', '-x509', ...ecKey, '-keyout', f('stranger.key'), '-out', f('stranger.pem'), '-days', '30', '-subj', '/CN=stranger');
  return {
    dir, ca: f('ca.pem'), server, other, client,
    expiredClient: { cert: f('expired.pem'), key: f('expired.key') },
    strangerClient: { cert: f('stranger.pem'), key: f('stranger.key') },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
