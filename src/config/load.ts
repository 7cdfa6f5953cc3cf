// Loads a config file (YAML), validates it, and resolves it to the units the code uses.
import { isUtf8 } from 'node:buffer';
import { dirname, resolve as resolvePath } from 'node:path';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { configError, SluiceError } from '../errors.ts';
import type { z } from 'zod';
import { brokerSchema, configSchema } from './schema.ts';
import type { BrokerConfig, DiscoveryConfig, ResolvedConfig } from './resolved.ts';

/** A broker as the schema parsed it (config brokers:, or a discovery source's list) -> BrokerConfig. */
export function brokerConfigOf(b: z.output<typeof brokerSchema>): BrokerConfig {
  return { name: b.name, weight: b.weight, proxyProtocol: b.proxy_protocol, drain: b.drain, slowStartMs: b.slow_start, drainCloseRate: b.drain_close_rate, ...b.address };
}

/** Validates a parsed YAML/JSON value; throws SLUICE_ERR_CONFIG listing every bad key path and why. */
export function resolveConfig(input: unknown, source = 'config', baseDir = process.cwd()): ResolvedConfig {
  const parsed = configSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${formatPath(i.path)}: ${i.message}`);
    throw configError(`${source} is invalid:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  const demo = c.demo ? { brokers: c.demo.brokers, host: c.demo.host, firstPort: c.demo.first_port, engine: c.demo.engine } : undefined;
  const brokers: BrokerConfig[] = demo
    ? Array.from({ length: demo.brokers }, (_, i) => {
      const port = demo.firstPort + i;
      return { name: `demo-${i + 1}`, address: `${demo.host}:${port}`, host: demo.host, port, weight: 1, proxyProtocol: 'none' as const, drain: false };
    })
    : c.brokers.map(brokerConfigOf);
  const h = c.health.mqtt;
  // Clients still sending CONNECT have a room of their own (see Admission): 10% of max_connections, at least 1000.
  const maxPending = c.limits.max_pending ?? Math.max(1000, Math.ceil(c.limits.max_connections / 10));
  return {
    workers: c.workers,
    listeners: c.listeners.map((l) => ({
      bind: l.bind,
      protocol: l.protocol,
      tls: l.tls && {
        pairs: l.tls.cert.map((cert, i) => ({ cert: resolvePath(baseDir, cert), key: resolvePath(baseDir, l.tls!.key[i]) })),
        ca: l.tls.ca === undefined ? undefined : resolvePath(baseDir, l.tls.ca),
        clientAuth: l.tls.client_auth,
        minVersion: l.tls.min_version,
        alpn: l.tls.alpn,
        handshakeTimeoutMs: l.tls.handshake_timeout,
      },
      clientIdMustMatch: l.client_id_must_match,
      acceptProxyProtocol: l.accept_proxy_protocol,
      ws: l.protocol === 'ws' || l.protocol === 'wss' ? { path: l.path ?? '/mqtt', maxFrameBytes: l.max_frame_size ?? 1024 ** 2 } : undefined,
    })),
    brokers,
    discovery: c.discovery.map((d): DiscoveryConfig => {
      switch (d.type) {
        case 'file': return { type: 'file', path: resolvePath(baseDir, d.path), intervalMs: d.interval, allowEmpty: d.allow_empty };
        case 'http': return {
          type: 'http', url: d.url, intervalMs: d.interval, timeoutMs: d.timeout, format: d.format, mqttPort: d.mqtt_port,
          tokenFile: d.token_file === undefined ? undefined : resolvePath(baseDir, d.token_file), allowEmpty: d.allow_empty,
        };
        case 'dns': return { type: 'dns', name: d.name, record: d.record, port: d.port, resolver: d.resolver, intervalMs: d.interval, allowEmpty: d.allow_empty };
      }
    }),
    demo,
    balance: { strategy: c.balance.strategy, key: c.balance.key, loadBound: c.balance.load_bound, rebalanceRate: c.balance.rebalance_rate },
    sticky: { capacity: c.sticky.capacity, ttlSec: Math.round(c.sticky.ttl / 1000) }, // ttl >= 1s (schema)
    limits: {
      connectTimeoutMs: c.limits.connect_timeout,
      maxConnectBytes: c.limits.max_connect_size,
      brokerConnectTimeoutMs: c.limits.broker_connect_timeout,
      maxConnections: c.limits.max_connections,
      maxPending,
      maxPendingPerWorker: Math.ceil(maxPending / c.workers),
      connectRatePerSec: c.limits.connect_rate,
      connectBurst: c.limits.connect_burst ?? Math.max(1, Math.ceil(c.limits.connect_rate)),
      idle: c.limits.idle,
    },
    health: {
      mqtt: h && {
        intervalMs: h.interval, timeoutMs: h.timeout, rise: h.rise, fall: h.fall, clientIdPrefix: h.client_id_prefix,
        username: h.username, passwordFile: h.password_file === undefined ? undefined : resolvePath(baseDir, h.password_file),
        protocolVersion: h.protocol_version,
      },
      http: c.health.http && { scheme: c.health.http.scheme, port: c.health.http.port, path: c.health.http.path },
      passive: c.health.passive && { failures: c.health.passive.failures, cooldownMs: c.health.passive.cooldown },
    },
    admin: c.admin ? { bind: c.admin.bind, tokenFile: c.admin.token_file === undefined ? undefined : resolvePath(baseDir, c.admin.token_file) } : undefined,
    datapath: c.datapath,
    coalesceUs: c.coalesce_us,
    shutdown: { drainTimeoutMs: c.shutdown.drain_timeout },
    log: { level: c.log.level, format: c.log.format },
  };
}

/** Config files are a few KiB; a larger file is a mistake (a log, a binary), refused before parsing. */
export const maxConfigBytes = 1024 * 1024;
/** YAML alias uses allowed (the yaml package's count, weighted by what each alias expands to). */
export const maxYamlAliasCount = 100;

/** Reads and validates a YAML config file; YAML syntax errors carry line and column. */
export function loadConfigFile(path: string): ResolvedConfig {
  // File paths in the config (TLS certificates and keys) are relative to the config file.
  return parseConfigText(readConfigText(path), path, dirname(resolvePath(path)));
}

/** Reads a config file as UTF-8 text: at most maxConfigBytes, no NUL bytes, valid UTF-8. */
export function readConfigText(path: string): string {
  let fd: number | undefined;
  let bytes: Buffer;
  try {
    fd = openSync(path, 'r');
    const stat = fstatSync(fd);
    if (stat.isFile() && stat.size > maxConfigBytes) throw fileError(path, `${formatBytes(stat.size)} is too large: a config file is at most ${formatBytes(maxConfigBytes)}`);
    // Read at most one byte past the limit: a pipe or a device (/dev/zero) has no size to check first.
    const buf = Buffer.alloc(maxConfigBytes + 1);
    let length = 0;
    while (length < buf.length) {
      const n = readSync(fd, buf, length, buf.length - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > maxConfigBytes) throw fileError(path, `more than ${formatBytes(maxConfigBytes)} is too large for a config file`);
    bytes = buf.subarray(0, length);
  } catch (err) {
    if (err instanceof SluiceError) throw err;
    throw configError(`cannot read config file ${path}: ${(err as Error).message}`, { cause: err });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return decodeConfigText(bytes, path);
}

/** UTF-8 bytes -> text (a leading BOM dropped); a binary or UTF-16 file is refused with where it goes wrong. */
export function decodeConfigText(bytes: Uint8Array, source: string): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if ((buf[0] === 0xff && buf[1] === 0xfe) || (buf[0] === 0xfe && buf[1] === 0xff)) {
    throw fileError(source, 'UTF-16 text: save it as UTF-8');
  }
  const nul = buf.indexOf(0);
  if (nul >= 0) throw fileError(source, `a NUL byte at line ${lineOf(buf, nul)} (byte ${nul}): a config file is UTF-8 text`);
  if (!isUtf8(buf)) {
    // A newline byte is never part of a multi-byte UTF-8 sequence, so checking line by line is exact.
    let line = 1;
    for (let from = 0; ; line++) {
      const newline = buf.indexOf(0x0a, from);
      if (newline === -1 || !isUtf8(buf.subarray(from, newline))) break;
      from = newline + 1;
    }
    throw fileError(source, `not UTF-8 text: line ${line} has bytes that are not UTF-8`);
  }
  return new TextDecoder('utf-8').decode(buf);
}

/** YAML text -> ResolvedConfig. Whatever the text, the only error that leaves is SLUICE_ERR_CONFIG. */
export function parseConfigText(text: string, source: string, baseDir = process.cwd()): ResolvedConfig {
  try {
    // logLevel error: a warning is an error here (listed below), never a line on stderr.
    const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, logLevel: 'error' });
    const problems = [...doc.errors, ...doc.warnings];
    if (problems.length > 0) {
      throw configError(`${source} is not valid YAML:\n${problems.map((e) => `  ${e.message}`).join('\n')}`);
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: maxYamlAliasCount });
    } catch (err) {
      if (err instanceof ReferenceError && /alias count/i.test(err.message)) {
        throw fileError(source, `YAML aliases expand too far (more than ${maxYamlAliasCount} alias uses, counted by size, as in a "billion laughs" bomb): write the values out`);
      }
      throw err;
    }
    return resolveConfig(value, source, baseDir);
  } catch (err) {
    if (err instanceof SluiceError) throw err;
    // Anything else the YAML library (or a value it built) throws: still a bad file, not a crash.
    const message = err instanceof Error ? err.message : String(err);
    const reason = err instanceof RangeError && /call stack/i.test(message) ? 'nested too deeply' : message;
    throw configError(`${source} is not valid YAML:\n  ${reason}`, { cause: err });
  }
}

/** A problem with the file as a whole, in the same shape as a key's: "<file> is invalid:\n  (file): ...". */
function fileError(source: string, reason: string): SluiceError {
  return configError(`${source} is invalid:\n  (file): ${reason}`);
}

function formatBytes(n: number): string {
  if (n >= 1024 ** 2) return `${n} bytes (${+(n / 1024 ** 2).toFixed(1)} MiB)`;
  return `${n} bytes`;
}

function lineOf(buf: Buffer, offset: number): number {
  let line = 1;
  for (let i = buf.indexOf(0x0a); i !== -1 && i < offset; i = buf.indexOf(0x0a, i + 1)) line++;
  return line;
}

export function formatPath(path: PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}
