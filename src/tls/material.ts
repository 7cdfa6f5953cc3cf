// Loads and checks what TLS listeners serve: each certificate with its key (they must match), the names
// each certificate answers for (SNI), the CA file for client certificates. Done once in the primary,
// before workers start, so a bad file is a config error naming the key, not a worker that cannot listen.
// What comes out is PEM text for the workers (a SecureContext cannot cross threads; each worker builds
// its own). Key material is never part of a message or a log line: only paths, names and dates are.
import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { configError } from '../errors.ts';
import type { ResolvedConfig, TlsListenerConfig } from '../config/resolved.ts';

/** One certificate chain and its key, as a worker's SecureContext takes them. */
export type CertPair = {
  certPem: string; // the leaf first, then any intermediates
  keyPem: string;
  /** DNS names and IP addresses the leaf is for (subjectAltName, else its CN), lower case. */
  names: string[];
  subject: string;
  certFile: string;
  notAfterMs: number;
};

export type TlsMaterial = {
  pairs: CertPair[];
  caPem: string | undefined;
  clientAuth: TlsListenerConfig['clientAuth'];
  minVersion: TlsListenerConfig['minVersion'];
  alpn: string[] | undefined;
  handshakeTimeoutMs: number;
};

/** Something an operator should hear about that does not stop Sluice (a certificate past its date). */
export type TlsWarning = { listener: string; certFile: string; msg: string };

/**
 * Reads and checks the TLS files of every TLS listener. Returns one entry per listener (undefined for
 * plain ones). Throws SLUICE_ERR_CONFIG listing every unreadable file, unparsable PEM and key that
 * does not belong to its certificate.
 */
export function loadTlsMaterial(config: ResolvedConfig, source: string, nowMs = Date.now()): { material: (TlsMaterial | undefined)[]; warnings: TlsWarning[] } {
  const problems: string[] = [];
  const warnings: TlsWarning[] = [];
  const material = config.listeners.map((l, i) => {
    if (!l.tls) return undefined;
    const path = `listeners[${i}].tls`;
    const read = (key: string, file: string): string | undefined => {
      try {
        return readFileSync(file, 'utf8');
      } catch (err) {
        problems.push(`  ${path}.${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        return undefined;
      }
    };
    const pairs: CertPair[] = [];
    l.tls.pairs.forEach((p, k) => {
      const at = l.tls!.pairs.length > 1 ? `[${k}]` : '';
      const certPem = read(`cert${at}`, p.cert);
      const keyPem = read(`key${at}`, p.key);
      if (certPem === undefined || keyPem === undefined) return;
      const pair = checkPair(certPem, keyPem, p.cert, p.key);
      if (typeof pair === 'string') {
        problems.push(`  ${path}: ${pair}`);
        return;
      }
      if (pair.notAfterMs < nowMs) warnings.push({ listener: l.bind.address, certFile: p.cert, msg: `certificate expired ${new Date(pair.notAfterMs).toISOString()}: clients will refuse it` });
      pairs.push(pair);
    });
    let caPem: string | undefined;
    if (l.tls.ca !== undefined) {
      caPem = read('ca', l.tls.ca);
      if (caPem !== undefined && !/-----BEGIN CERTIFICATE-----/.test(caPem)) {
        problems.push(`  ${path}.ca: ${l.tls.ca} holds no PEM certificate`);
      }
    }
    return { pairs, caPem, clientAuth: l.tls.clientAuth, minVersion: l.tls.minVersion, alpn: l.tls.alpn, handshakeTimeoutMs: l.tls.handshakeTimeoutMs };
  });
  if (problems.length > 0) throw configError(`${source} is invalid:\n${problems.join('\n')}`);
  return { material, warnings };
}

/** Parses a certificate file and its key and checks they belong together; a string says what is wrong. */
export function checkPair(certPem: string, keyPem: string, certFile: string, keyFile: string): CertPair | string {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certPem);
  } catch (err) {
    return `${certFile} is not a PEM certificate (${(err as Error).message})`;
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    // The parser's message can quote the input: say only which file.
    return `${keyFile} is not a PEM private key (an encrypted key needs its passphrase removed)`;
  }
  if (!leaf.checkPrivateKey(key)) return `${keyFile} is not the key of ${certFile} (${leaf.subject.replace(/\n/g, ', ')})`;
  return { certPem, keyPem, names: certNames(leaf), subject: leaf.subject.replace(/\n/g, ', '), certFile, notAfterMs: Date.parse(leaf.validTo) };
}

/** The names a certificate is for: its subjectAltName DNS and IP entries, else its subject CN. */
export function certNames(cert: X509Certificate): string[] {
  const names: string[] = [];
  for (const entry of (cert.subjectAltName ?? '').split(/,\s*/)) {
    const m = /^(DNS|IP Address):(.+)$/.exec(entry.trim());
    if (m) names.push(m[2].toLowerCase());
  }
  if (names.length > 0) return names;
  const cn = /^CN=(.+)$/m.exec(cert.subject);
  return cn ? [cn[1].toLowerCase()] : [];
}
