// The bench's TLS material: a throwaway CA and a P-256 server certificate for 127.0.0.1, made with the
// openssl CLI in a temporary directory for one run (never committed; deleted with the directory).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type BenchCerts = { cert: string; key: string; ca: string; /** HAProxy's `crt`: certificate then key in one file */ combined: string };

export function makeBenchCerts(dir: string): BenchCerts {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const f = (name: string) => join(dir, name);
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  openssl(['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=sluice-bench-ca']);
  openssl(['req', '-new', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1']);
  writeFileSync(f('ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2',
    '-extfile', f('ext'), '-out', f('server.pem')]);
  writeFileSync(f('combined.pem'), Buffer.concat([readFileSync(f('server.pem')), readFileSync(f('server.key'))]));
  return { cert: f('server.pem'), key: f('server.key'), ca: f('ca.pem'), combined: f('combined.pem') };
}
