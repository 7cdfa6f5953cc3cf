// Which certificate a TLS client gets: the first whose names match the server name it asked for (SNI),
// else the listener's first certificate. A wildcard (*.example.com) covers exactly one label, as in
// RFC 6125 and every browser: a.example.com, not example.com nor a.b.example.com.

/** True when `name` (a certificate's DNS name, lower case) covers `serverName`. */
export function nameMatches(name: string, serverName: string): boolean {
  const host = serverName.toLowerCase().replace(/\.$/, '');
  if (name === host) return true;
  if (!name.startsWith('*.')) return false;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot + 1) === name.slice(2);
}

/** Index of the first pair whose names cover `serverName`; 0 (the default) when none does or none was asked. */
export function pickCertificate(pairs: readonly { names: readonly string[] }[], serverName: string | undefined): number {
  if (!serverName) return 0;
  for (let i = 0; i < pairs.length; i++) {
    if (pairs[i].names.some((n) => nameMatches(n, serverName))) return i;
  }
  return 0;
}
