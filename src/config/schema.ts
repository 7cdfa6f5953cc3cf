// The config file's schema (zod): every key of the public contract, defaults, units, cross-field rules.
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { formatDurationMs, formatHostPort, parseHostPort, readDurationMs, readSizeBytes, showValue } from './units.ts';

export const strategyNames = [
  'random', 'round-robin', 'weighted-round-robin', 'least-connections', 'consistent-hash', 'sticky',
] as const;
export const keySources = ['client-id', 'username', 'source-address', 'cert-cn'] as const;
export type KeySource = (typeof keySources)[number];
/** auto = mosquitto when found on PATH or in /usr/sbin (MQTT 3.1, 3.1.1 and 5), else aedes (3.1, 3.1.1). */
export const demoEngines = ['auto', 'mosquitto', 'aedes'] as const;
export type DemoEngineChoice = (typeof demoEngines)[number];

const maxBrokers = 256;
const maxStickyTtlMs = 365 * 86_400_000;

/** Longest wait a Node timer honours: setTimeout turns anything longer into 1 ms. */
export const maxTimerMs = 2 ** 31 - 1;
export const maxWorkers = 64;

/** A string or any number, Infinity and NaN included, so the unit parser can say what is wrong with it. */
function stringOrNumber(what: string, example: string) {
  return z.custom<string | number>((v) => typeof v === 'string' || typeof v === 'number', {
    error: (i) => `not a ${what}: ${showValue(i.input)} ${example}`,
  });
}

/** A duration in ms, between minMs and maxMs; `tooLong` explains the upper bound. */
function duration(minMs: number, maxMs: number, tooLong: string) {
  return stringOrNumber('duration', '(use e.g. 500ms, 10s, 2h)').transform((v, ctx) => {
    const r = readDurationMs(v);
    if (!r.ok) {
      ctx.addIssue({ code: 'custom', message: r.reason });
      return z.NEVER;
    }
    if (r.value < minMs) ctx.addIssue({ code: 'custom', message: `${showValue(v)} is too short: must be at least ${formatDurationMs(minMs)}` });
    else if (r.value > maxMs) ctx.addIssue({ code: 'custom', message: `${showValue(v)} is too long: ${tooLong}` });
    return r.value;
  });
}

/** A duration a timer waits for (setTimeout): at least 1 ms, at most 2^31-1 ms. */
/** The longest the native path holds a streaming source (µs): past it, a hold is a stall, not a batch. */
export const maxCoalesceUs = 10_000;
const timerDuration = duration(1, maxTimerMs, `a timer can wait at most ${maxTimerMs}ms (about 24.8 days); use at most 24d`);

/** A size in bytes, between minBytes and maxBytes; `range` says so in words. */
function size(minBytes: number, maxBytes: number, range: string) {
  return stringOrNumber('size', '(use e.g. 65536, 64KiB, 1MiB)').transform((v, ctx) => {
    const r = readSizeBytes(v);
    if (!r.ok) {
      ctx.addIssue({ code: 'custom', message: r.reason });
      return z.NEVER;
    }
    if (r.value < minBytes || r.value > maxBytes) ctx.addIssue({ code: 'custom', message: `${showValue(v)} is out of range: must be ${range}` });
    return r.value;
  });
}

/** host:port Sluice listens on; an empty host (":1883") is every address, IPv6 and IPv4. */
function listenAddress(portZero: string) {
  return z.string().transform((v, ctx) => {
    const hp = parseHostPort(v);
    if (!hp) {
      ctx.addIssue({ code: 'custom', message: `not host:port: ${showValue(v)} (use e.g. 127.0.0.1:1883, [::1]:1883 or :1883)` });
      return z.NEVER;
    }
    if (hp.port === 0) ctx.addIssue({ code: 'custom', message: `port 0 ${portZero}: give a fixed port 1-65535` });
    return { address: v, host: hp.host, port: hp.port };
  });
}

/** host:port of a broker Sluice connects to. */
const brokerAddress = z.string().transform((v, ctx) => {
  const hp = parseHostPort(v);
  if (!hp) {
    ctx.addIssue({ code: 'custom', message: `not host:port: ${showValue(v)} (use e.g. 127.0.0.1:1883)` });
    return z.NEVER;
  }
  if (hp.host === undefined) ctx.addIssue({ code: 'custom', message: `${showValue(v)} has no host: a broker address needs one (e.g. 127.0.0.1${v.trim()})` });
  if (hp.port === 0) ctx.addIssue({ code: 'custom', message: 'port 0 is not a port a broker listens on: give its port 1-65535' });
  return { address: v, host: hp.host ?? '', port: hp.port };
});

export const listenerProtocols = ['mqtt', 'mqtts', 'ws', 'wss'] as const;
const tlsProtocols: ReadonlySet<string> = new Set(['mqtts', 'wss']);
const wsProtocols: ReadonlySet<string> = new Set(['ws', 'wss']);
export const clientAuthModes = ['none', 'optional', 'required'] as const;
export const tlsVersions = ['TLSv1.2', 'TLSv1.3'] as const;

/** A file path, or a list of them (several certificate/key pairs, chosen by SNI). */
const pathOrPaths = z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(64)])
  .transform((v) => (typeof v === 'string' ? [v] : v));

const tls = z.strictObject({
  cert: pathOrPaths,
  key: pathOrPaths,
  ca: z.string().min(1).optional(),
  client_auth: z.enum(clientAuthModes).default('none'),
  min_version: z.enum(tlsVersions).default('TLSv1.2'),
  alpn: z.array(z.string().min(1).max(255)).max(16).optional(),
  handshake_timeout: timerDuration.default(10_000),
}).superRefine((t, ctx) => {
  if (t.cert.length !== t.key.length) {
    ctx.addIssue({ code: 'custom', path: ['key'], message: `${t.cert.length} cert file(s) but ${t.key.length} key file(s): give one key per certificate, in the same order` });
  }
  if (t.client_auth !== 'none' && t.ca === undefined) {
    ctx.addIssue({ code: 'custom', path: ['ca'], message: `client_auth: ${t.client_auth} needs ca: the CA file client certificates are checked against` });
  }
});

const listener = z.strictObject({
  bind: listenAddress('would make each worker thread listen on a different random port'),
  protocol: z.enum(listenerProtocols).default('mqtt'),
  tls: tls.optional(),
  // mTLS identity: the CONNECT's client id must equal the client certificate's subject CN.
  client_id_must_match: z.enum(['cert-cn']).optional(),
  // MQTT over WebSocket (ws, wss): the HTTP path of the upgrade, and the largest frame a client may send.
  path: z.string().regex(/^\/[^\s?#]*$/, 'an absolute path such as /mqtt (no query, no spaces)').optional(),
  max_frame_size: size(64, 256 * 1024 ** 2, 'from 64B to 256MiB').optional(),
  // A front L4 balancer puts a PROXY header (v1 or v2) before each client's bytes.
  accept_proxy_protocol: z.boolean().default(false),
}).superRefine((l, ctx) => {
  if (!wsProtocols.has(l.protocol)) {
    for (const key of ['path', 'max_frame_size'] as const) {
      if (l[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `only for protocol ws or wss (this listener is ${l.protocol})` });
    }
  }
  if (l.client_id_must_match && (!l.tls || l.tls.client_auth === 'none')) {
    ctx.addIssue({ code: 'custom', path: ['client_id_must_match'], message: 'needs client certificates: protocol mqtts or wss with tls.client_auth required (or optional)' });
  }
  if (tlsProtocols.has(l.protocol) && !l.tls) ctx.addIssue({ code: 'custom', path: ['tls'], message: `protocol ${l.protocol} needs tls: { cert, key }` });
  if (!tlsProtocols.has(l.protocol) && l.tls) {
    const secure = l.protocol === 'ws' ? 'wss' : 'mqtts';
    ctx.addIssue({ code: 'custom', path: ['protocol'], message: `tls: is set but protocol is ${l.protocol} (no TLS): use protocol: ${secure}, or remove tls:` });
  }
});

const workersMessage = `must be a whole number from 1 to ${maxWorkers}, or "auto"`;
const workers = z.union([z.literal('auto'), z.number()], { error: (i) => `${workersMessage} (got ${showValue(i.input)})` })
  .transform((w, ctx) => {
    // auto: one per CPU, within the same bound as a number.
    if (w === 'auto') return Math.min(maxWorkers, availableParallelism());
    if (!Number.isInteger(w) || w < 1 || w > maxWorkers) ctx.addIssue({ code: 'custom', message: `${workersMessage} (got ${showValue(w)})` });
    return w;
  });

/** One broker, as the config's brokers: list and a discovery source's list write it. */
export const brokerSchema = z.strictObject({
  name: z.string().min(1).max(64).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only'),
  address: brokerAddress,
  weight: z.number().int().min(0).max(1000).default(1),
  // v2: every connection to this broker starts with a PROXY protocol v2 header (the client's address, TLS facts).
  proxy_protocol: z.enum(['none', 'v2']).default('none'),
  // Draining: no new clients are placed on it; its connected clients stay until they leave.
  drain: z.boolean().default(false),
  // After it comes up (back from down, or added while running) it takes new clients on a ramp this long.
  slow_start: duration(0, maxTimerMs, 'use at most 24d').default(0),
  // While it drains (drain: true, or removed from the set), its clients are closed at this many a second
  // (all workers together) so their reconnects spread; 0: they stay until they leave.
  drain_close_rate: z.number().min(0).max(100_000).default(0),
});

/** host:port of a DNS server (discovery type dns); the port defaults to 53. */
const resolverAddress = z.string().transform((v, ctx) => {
  // host:port, [v6]:port, or a bare IPv4 / IPv6 address (port 53).
  const hp = parseHostPort(v) ?? parseHostPort(v.includes(':') ? `[${v}]:53` : `${v}:53`);
  // An IP address: the resolver's own address cannot depend on a resolver.
  if (!hp || hp.host === undefined || isIP(hp.host) === 0 || hp.port === 0) {
    ctx.addIssue({ code: 'custom', message: `not a DNS server address: ${showValue(v)} (an IP, with an optional port: e.g. 127.0.0.1 or 127.0.0.1:5353)` });
    return z.NEVER;
  }
  return formatHostPort(hp.host, hp.port);
});

const pollInterval = duration(100, maxTimerMs, 'use at most 24d').default(5000);
/** A source whose answer is empty keeps its last non-empty set, unless allow_empty says an empty set is real. */
const allowEmpty = z.boolean().default(false);

const discoverySource = z.discriminatedUnion('type', [
  // A JSON or YAML file with { brokers: [...] } (as the config's brokers: list), read when it changes.
  z.strictObject({ type: z.literal('file'), path: z.string().min(1), interval: pollInterval, allow_empty: allowEmpty }),
  // An HTTP(S) endpoint polled with undici: { brokers: [...] } (format sluice) or EMQX's /api/v5/nodes (format emqx).
  z.strictObject({
    type: z.literal('http'), url: z.url({ protocol: /^https?$/ }), interval: pollInterval,
    timeout: duration(10, maxTimerMs, 'use at most 24d').default(2000),
    format: z.enum(['sluice', 'emqx']).default('sluice'),
    mqtt_port: z.number().int().min(1).max(65535).default(1883), // emqx: the nodes' MQTT listener port
    token_file: z.string().min(1).optional(), // bearer token, read from a file, never logged
    allow_empty: allowEmpty,
  }),
  // A DNS name re-resolved every interval: A/AAAA (every address at `port`) or SRV (targets, ports, weights).
  z.strictObject({
    type: z.literal('dns'), name: z.string().min(1).max(253), record: z.enum(['A', 'AAAA', 'SRV']).default('A'),
    port: z.number().int().min(1).max(65535).default(1883), resolver: resolverAddress.optional(), interval: pollInterval,
    allow_empty: allowEmpty,
  }),
]);

/** Active MQTT health check of every broker (off unless configured). */
const mqttHealth = z.strictObject({
  interval: duration(100, maxTimerMs, 'use at most 24d').default(2000),
  timeout: duration(10, maxTimerMs, 'use at most 24d').default(1000),
  rise: z.number().int().min(1).max(100).default(2),
  fall: z.number().int().min(1).max(100).default(2),
  // The probe's client id is this prefix, a tag of this Sluice process, and the broker's index.
  client_id_prefix: z.string().max(32).regex(/^[A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-" only').default('sluice-hc-'),
  username: z.string().min(1).max(65535).optional(),
  // The password is read from a file (relative to the config file), never written in the config.
  password_file: z.string().min(1).optional(),
  protocol_version: z.union([z.literal(4), z.literal(5)]).default(4),
}).superRefine((h, ctx) => {
  if (h.password_file !== undefined && h.username === undefined) {
    ctx.addIssue({ code: 'custom', path: ['password_file'], message: 'needs username: MQTT 3.1.1 sends a password only with a user name' });
  }
});

export const configSchema = z
  .strictObject({
    workers: workers.default(1),
    listeners: z.array(listener).min(1).default([{ bind: { address: '127.0.0.1:1883', host: '127.0.0.1', port: 1883 }, protocol: 'mqtt', accept_proxy_protocol: false }]),
    brokers: z.array(brokerSchema).max(maxBrokers).default([]),
    // Broker discovery: sources whose sets join the static brokers (src/discovery/).
    discovery: z.array(discoverySource).max(16).default([]),
    demo: z.strictObject({
      brokers: z.number().int().min(1).max(16).default(3),
      host: z.string().default('127.0.0.1'),
      first_port: z.number().int().min(1).max(65535).default(1884),
      engine: z.enum(demoEngines).default('auto'),
    }).refine((d) => d.first_port + d.brokers - 1 <= 65535, {
      path: ['first_port'], message: 'the demo brokers take first_port .. first_port + brokers - 1: past 65535',
    }).optional(),
    balance: z.strictObject({
      strategy: z.enum(strategyNames).default('sticky'),
      key: z.array(z.enum(keySources)).min(1).default(['client-id', 'username', 'source-address']),
      load_bound: z.number().min(1).max(10).default(1.25),
      // Opt-in rebalance: a broker that comes up gets its consistent-hash share of the connected clients,
      // moved (re-pinned, then closed) at most this many a second, all workers together; 0 = off.
      rebalance_rate: z.number().min(0).max(100_000).default(0),
    }).refine((b) => b.rebalance_rate === 0 || b.strategy === 'sticky' || b.strategy === 'consistent-hash', {
      path: ['rebalance_rate'], message: 'moves clients to where consistent hashing places them: needs strategy sticky or consistent-hash',
    }).prefault({}),
    sticky: z.strictObject({
      capacity: z.number().int().min(16).max(1 << 26).default(1 << 20),
      // Pins age in whole seconds (an int32 difference of seconds, src/sticky/table.ts); a year is plenty.
      ttl: duration(1000, maxStickyTtlMs, `pins live at most ${formatDurationMs(maxStickyTtlMs)}`).default(2 * 3_600_000),
    }).prefault({}),
    limits: z.strictObject({
      connect_timeout: timerDuration.default(10_000),
      max_connect_size: size(64, 256 * 1024 ** 2, 'from 64B to 256MiB').default(64 * 1024),
      broker_connect_timeout: timerDuration.default(5_000),
      max_connections: z.number().int().min(1).default(1_000_000),
      max_pending: z.number().int().min(1).optional(),
      connect_rate: z.number().min(0).default(0),
      connect_burst: z.number().int().min(1).optional(),
      // A forwarded client that sends nothing this long is closed: keepalive = 1.5x its CONNECT keep-alive
      // (none for keep-alive 0), a duration, or off.
      idle: z.union([z.literal('keepalive'), z.literal('off'), timerDuration]).default('keepalive'),
    }).prefault({}),
    health: z.strictObject({
      mqtt: mqttHealth.optional(),
      // HTTP readiness on each broker's host, checked with every MQTT probe (both must pass).
      http: z.strictObject({
        path: z.string().regex(/^\/[^\s#]*$/, 'an absolute path such as /health').default('/'),
        port: z.number().int().min(1).max(65535),
        scheme: z.enum(['http', 'https']).default('http'),
      }).optional(),
      // Passive: `failures` in a row (any worker) of failed broker connects and CONNACKs refusing clients
      // for the broker's own state mark the broker down; with
      // health.mqtt it comes back after `rise` passing probes, without it after `cooldown`.
      passive: z.strictObject({
        failures: z.number().int().min(1).max(1000).default(3),
        cooldown: duration(100, maxTimerMs, 'use at most 24d').default(10_000),
      }).optional(),
    }).prefault({}),
    // The admin API: loopback by default; another address needs a token (listeners.ts checks the resolved IP).
    admin: z.strictObject({
      bind: listenAddress('would make the admin endpoint listen on a random port').prefault('127.0.0.1:9100'),
      token_file: z.string().min(1).optional(),
    }).optional(),
    datapath: z.enum(['auto', 'js', 'splice']).default('auto'),
    // Native path: how long a source that streams small writes is held so they go on together (µs).
    coalesce_us: z.number().int().min(0).max(maxCoalesceUs).default(500),
    // SIGTERM: listeners close at once; live connections get this long to end, then are closed.
    shutdown: z.strictObject({
      drain_timeout: duration(0, 3_600_000, 'use at most 1h (a service manager stops waiting long before)').default(30_000),
    }).prefault({}),
    log: z.strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      // auto: readable coloured lines on a terminal, JSON lines otherwise (a file, a pipe, journald).
      format: z.enum(['auto', 'json', 'pretty']).default('auto'),
    }).prefault({}),
  })
  .superRefine((c, ctx) => {
    if (c.health.http && !c.health.mqtt) {
      ctx.addIssue({ code: 'custom', path: ['health', 'http'], message: 'runs with the MQTT probe (its interval, timeout, rise and fall): set health.mqtt too' });
    }
    if (c.brokers.length === 0 && !c.demo && c.discovery.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['brokers'], message: 'at least one broker is required (or a demo: block, or discovery:)' });
    }
    if (c.brokers.length > 0 && c.demo) {
      ctx.addIssue({ code: 'custom', path: ['demo'], message: 'demo: makes its own brokers; remove brokers: or demo:' });
    }
    if (c.demo && c.demo.first_port + c.demo.brokers - 1 > 65535) {
      ctx.addIssue({ code: 'custom', path: ['demo', 'first_port'], message: `${c.demo.brokers} demo brokers from port ${c.demo.first_port} would need ports past 65535` });
    }
    const seenNames = new Map<string, number>();
    const seenAddresses = new Map<string, number>();
    c.brokers.forEach((b, i) => {
      if (seenNames.has(b.name)) ctx.addIssue({ code: 'custom', path: ['brokers', i, 'name'], message: `duplicate broker name "${b.name}" (also brokers[${seenNames.get(b.name)}])` });
      if (seenAddresses.has(b.address.address)) ctx.addIssue({ code: 'custom', path: ['brokers', i, 'address'], message: `duplicate broker address ${b.address.address} (also brokers[${seenAddresses.get(b.address.address)}])` });
      seenNames.set(b.name, i);
      seenAddresses.set(b.address.address, i);
    });
    if (c.brokers.length > 0 && c.brokers.every((b) => b.weight === 0)) {
      ctx.addIssue({ code: 'custom', path: ['brokers'], message: 'every broker has weight 0: nothing could be placed' });
    }
  });

export type ConfigInput = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
