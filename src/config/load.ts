// Loads a config file (YAML), validates it, and resolves it to the units the code uses.
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { configError } from '../errors.ts';
import { configSchema } from './schema.ts';
import type { BrokerConfig, ResolvedConfig } from './resolved.ts';

/** Validates a parsed YAML/JSON value; throws SLUICE_ERR_CONFIG listing every bad key path and why. */
export function resolveConfig(input: unknown, source = 'config'): ResolvedConfig {
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
      return { name: `demo-${i + 1}`, address: `${demo.host}:${port}`, host: demo.host, port, weight: 1 };
    })
    : c.brokers.map((b) => ({ name: b.name, weight: b.weight, ...b.address }));
  return {
    workers: c.workers,
    listeners: c.listeners.map((l) => ({ bind: l.bind })),
    brokers,
    demo,
    balance: { strategy: c.balance.strategy, key: c.balance.key, loadBound: c.balance.load_bound },
    sticky: { capacity: c.sticky.capacity, ttlSec: Math.max(1, Math.round(c.sticky.ttl / 1000)) },
    limits: {
      connectTimeoutMs: c.limits.connect_timeout,
      maxConnectBytes: c.limits.max_connect_size,
      brokerConnectTimeoutMs: c.limits.broker_connect_timeout,
      maxConnections: c.limits.max_connections,
      connectRatePerSec: c.limits.connect_rate,
      connectBurst: c.limits.connect_burst ?? Math.max(1, Math.ceil(c.limits.connect_rate)),
    },
    admin: c.admin ? { bind: c.admin.bind } : undefined,
    datapath: c.datapath,
    log: { level: c.log.level },
  };
}

/** Reads and validates a YAML config file; YAML syntax errors carry line and column. */
export function loadConfigFile(path: string): ResolvedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw configError(`cannot read config file ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseConfigText(text, path);
}

export function parseConfigText(text: string, source: string): ResolvedConfig {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw configError(`${source} is not valid YAML:\n${doc.errors.map((e) => `  ${e.message}`).join('\n')}`);
  }
  return resolveConfig(doc.toJS(), source);
}

function formatPath(path: PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}
