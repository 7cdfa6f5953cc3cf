// Resolves listener (and admin) host names to IP addresses before workers start, and refuses two
// addresses that are one socket address written two ways, or a wildcard and a specific one on one port.
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { configError } from '../errors.ts';
import type { ListenEndpoint, ListenerConfig, ResolvedConfig } from './resolved.ts';
import { formatHostPort } from './units.ts';

/** dns.lookup's first answer, as server.listen(host) itself would use it. */
export type LookupFn = (host: string) => Promise<{ address: string }>;

/** What a bind covers on its port: every address, every IPv4 address, or one IP. */
type Scope = { kind: 'all' } | { kind: 'all-ipv4' } | { kind: 'ip'; ip: string; family: 4 | 6 };

type Bind = { path: string; endpoint: ListenEndpoint; ip: string | undefined; scope: Scope; named: boolean };

/**
 * Returns the config with every listener and admin host replaced by the IP it resolves to (a host
 * left empty stays undefined: every address), so workers bind one well-defined address. Throws
 * SLUICE_ERR_CONFIG, in the format of resolveConfig, for a name that does not resolve and for two
 * binds that would listen on the same address and port.
 */
export async function resolveListenerAddresses(config: ResolvedConfig, source: string, lookup: LookupFn = (host) => dnsLookup(host)): Promise<ResolvedConfig> {
  const endpoints: { path: string; endpoint: ListenEndpoint }[] = [
    ...config.listeners.map((l, i) => ({ path: `listeners[${i}].bind`, endpoint: l.bind })),
    ...(config.admin ? [{ path: 'admin.bind', endpoint: config.admin.bind }] : []),
  ];
  const problems: string[] = [];
  const binds: Bind[] = [];
  // Lookups run together: a config has a handful of listeners, and an unresolvable name may take seconds.
  await Promise.all(endpoints.map(async ({ path, endpoint }, i) => {
    const host = endpoint.host;
    let ip: string | undefined;
    if (host !== undefined && isIP(host) === 0) {
      try {
        ip = (await lookup(host)).address;
      } catch (err) {
        problems[i] = `  ${path}: cannot resolve host ${JSON.stringify(host)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
        return;
      }
    } else {
      ip = host;
    }
    binds[i] = { path, endpoint, ip, scope: scopeOf(ip), named: ip !== host };
  }));

  for (let j = 0; j < binds.length; j++) {
    const b = binds[j];
    const a = b && binds.slice(0, j).find((x) => x && x.endpoint.port === b.endpoint.port && overlaps(x.scope, b.scope));
    if (!a) continue;
    const reason = sameScope(a.scope, b.scope)
      ? `${b.endpoint.address} is the same address as ${a.path} (${a.endpoint.address})` +
        (a.named || b.named ? `: both are ${formatHostPort(b.ip, b.endpoint.port)}` : '')
      : `${b.endpoint.address} overlaps ${a.path} (${a.endpoint.address}): ${describeOverlap(a, b)}`;
    problems[j] = `  ${b.path}: ${reason}`;
  }
  if (config.admin && !config.admin.tokenFile) {
    const ip = binds[config.listeners.length]?.ip;
    if (binds[config.listeners.length] && !isLoopback(ip)) {
      problems[config.listeners.length] ??= `  admin.bind: ${config.admin.bind.address} is not a loopback address: set admin.token_file (the admin API drains brokers and reloads the config), or bind it to 127.0.0.1`;
    }
  }
  const lines = problems.filter(Boolean);
  if (lines.length > 0) throw configError(`${source} is invalid:\n${lines.join('\n')}`);

  const withIp = (i: number): ListenEndpoint => ({ ...binds[i].endpoint, host: binds[i].ip });
  return {
    ...config,
    listeners: config.listeners.map((l, i) => ({ ...l, bind: withIp(i) })),
    admin: config.admin ? { ...config.admin, bind: withIp(config.listeners.length) } : undefined,
  };
}

/** 127.0.0.0/8, ::1, or an IPv4-mapped 127.x; undefined (every address) is not. */
export function isLoopback(ip: string | undefined): boolean {
  if (ip === undefined) return false;
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  return v4.startsWith('127.') || ip === '::1';
}

/** How a listener is named in metrics and logs: protocol://bind. */
export const listenerLabel = (l: ListenerConfig) => `${l.protocol}://${l.bind.address}`;

/** How `sluice check` shows where a resolved listener listens. */
export function describeListenHost(endpoint: ListenEndpoint): string {
  if (endpoint.host === undefined) return 'every address, IPv6 and IPv4; IPv4 only on a machine without IPv6';
  const scope = scopeOf(endpoint.host);
  if (scope.kind === 'all') return 'every address, IPv6 and IPv4';
  if (scope.kind === 'all-ipv4') return 'every IPv4 address';
  return endpoint.host;
}

/** undefined (":port") and "::" are every address: Node listens on "::" dual stack (IPV6_V6ONLY off). */
function scopeOf(ip: string | undefined): Scope {
  if (ip === undefined) return { kind: 'all' };
  if (isIP(ip) === 4) return ip === '0.0.0.0' ? { kind: 'all-ipv4' } : { kind: 'ip', ip, family: 4 };
  const canonical = canonicalIpv6(ip);
  if (canonical === '::') return { kind: 'all' };
  // An IPv4-mapped IPv6 address (::ffff:127.0.0.1) is that IPv4 address on a dual-stack socket.
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped) {
    const [hi, lo] = [parseInt(mapped[1], 16), parseInt(mapped[2], 16)];
    const v4 = [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
    return v4 === '0.0.0.0' ? { kind: 'all-ipv4' } : { kind: 'ip', ip: v4, family: 4 };
  }
  return { kind: 'ip', ip: canonical, family: 6 };
}

/** "0:0:0:0:0:0:0:1" and "::1" are one address: the URL parser writes IPv6 in its canonical form. */
function canonicalIpv6(ip: string): string {
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip.toLowerCase(); // a zone id (fe80::1%eth0) is not URL syntax; compare it as written
  }
}

function overlaps(a: Scope, b: Scope): boolean {
  if (a.kind === 'all' || b.kind === 'all') return true;
  if (a.kind === 'all-ipv4') return b.kind === 'all-ipv4' || b.family === 4;
  if (b.kind === 'all-ipv4') return a.family === 4;
  return a.ip === b.ip;
}

function sameScope(a: Scope, b: Scope): boolean {
  if (a.kind === 'ip' && b.kind === 'ip') return a.ip === b.ip;
  return a.kind === b.kind;
}

function describeOverlap(a: Bind, b: Bind): string {
  const wide = a.scope.kind === 'ip' || (b.scope.kind === 'all' && a.scope.kind === 'all-ipv4') ? b : a;
  const what = wide.scope.kind === 'all' ? 'every address (IPv6 and IPv4)' : 'every IPv4 address';
  return `${wide.endpoint.address} listens on ${what} of port ${wide.endpoint.port}`;
}
