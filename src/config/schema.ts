// The config file's schema (zod): every key of the public contract, defaults, units, cross-field rules.
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { parseDurationMs, parseHostPort, parseSizeBytes } from './units.ts';

export const strategyNames = [
  'random', 'round-robin', 'weighted-round-robin', 'least-connections', 'consistent-hash', 'sticky',
] as const;
export const keySources = ['client-id', 'username', 'source-address'] as const;
export type KeySource = (typeof keySources)[number];
/** auto = mosquitto when found on PATH or in /usr/sbin (MQTT 3.1, 3.1.1 and 5), else aedes (3.1, 3.1.1). */
export const demoEngines = ['auto', 'mosquitto', 'aedes'] as const;
export type DemoEngineChoice = (typeof demoEngines)[number];

const maxBrokers = 256;

const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDurationMs(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `not a duration: ${JSON.stringify(v)} (use e.g. 500ms, 10s, 2h)` });
    return z.NEVER;
  }
  return ms;
});

const size = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const bytes = parseSizeBytes(v);
  if (bytes === undefined) {
    ctx.addIssue({ code: 'custom', message: `not a size: ${JSON.stringify(v)} (use e.g. 65536, 64KiB, 1MiB)` });
    return z.NEVER;
  }
  return bytes;
});

const hostPort = z.string().transform((v, ctx) => {
  const hp = parseHostPort(v);
  if (!hp) {
    ctx.addIssue({ code: 'custom', message: `not host:port: ${JSON.stringify(v)} (use e.g. 127.0.0.1:1883)` });
    return z.NEVER;
  }
  return { address: v, ...hp };
});

const listener = z.strictObject({ bind: hostPort });

const broker = z.strictObject({
  name: z.string().min(1).max(64).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only'),
  address: hostPort,
  weight: z.number().int().min(0).max(1000).default(1),
});

export const configSchema = z
  .strictObject({
    workers: z.union([z.literal('auto'), z.number().int().min(1).max(256)]).default(1)
      .transform((w) => (w === 'auto' ? availableParallelism() : w)),
    listeners: z.array(listener).min(1).default([{ bind: { address: '127.0.0.1:1883', host: '127.0.0.1', port: 1883 } }]),
    brokers: z.array(broker).max(maxBrokers).default([]),
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
    }).prefault({}),
    sticky: z.strictObject({
      capacity: z.number().int().min(16).max(1 << 26).default(1 << 20),
      ttl: duration.default(2 * 3_600_000),
    }).prefault({}),
    limits: z.strictObject({
      connect_timeout: duration.default(10_000),
      max_connect_size: size.pipe(z.number().min(64).max(256 * 1024 * 1024)).default(64 * 1024),
      broker_connect_timeout: duration.default(5_000),
      max_connections: z.number().int().min(1).default(1_000_000),
      connect_rate: z.number().min(0).default(0),
      connect_burst: z.number().int().min(1).optional(),
    }).prefault({}),
    admin: z.strictObject({ bind: hostPort }).optional(),
    datapath: z.enum(['auto', 'js', 'splice']).default('auto'),
    log: z.strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    }).prefault({}),
  })
  .superRefine((c, ctx) => {
    if (c.brokers.length === 0 && !c.demo) {
      ctx.addIssue({ code: 'custom', path: ['brokers'], message: 'at least one broker is required (or a demo: block)' });
    }
    if (c.brokers.length > 0 && c.demo) {
      ctx.addIssue({ code: 'custom', path: ['demo'], message: 'demo: makes its own brokers; remove brokers: or demo:' });
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
