// The `sluice` command: run the balancer, check a config, or print help.
// First, before any dependency loads: debug switches that would print client secrets are turned off.
import { debugWarning, ignoredDebugVariables, nodeDebugIsOn, runWithoutNodeDebug } from './debug-env.ts';
import { parseArgs } from 'node:util';
import { loadConfigFile, parseConfigText } from './config/load.ts';
import { describeListenHost, resolveListenerAddresses } from './config/listeners.ts';
import { embeddedConfigText } from './config/embedded.ts';
import type { ResolvedConfig } from './config/resolved.ts';
import { SluiceError } from './errors.ts';
import { createLogger, resolveLogFormat } from './log.ts';
import { runSluice } from './primary/run.ts';
import { loadTlsMaterial } from './tls/material.ts';
import { readAdminToken } from './admin/token.ts';
import { ServiceNotify } from './primary/service-notify.ts';
import { readProbePassword } from './health/credentials.ts';
import { chooseDemoEngine, findMosquitto, servedProtocols } from './demo/engine.ts';

const help = `sluice: MQTT-aware sticky load balancer for MQTT broker clusters

Usage:
  sluice                        run the embedded default (3 demo brokers behind 127.0.0.1:1883;
                                Mosquitto when installed, for MQTT 5)
  sluice --config FILE          run with a YAML config file
  sluice check --config FILE    validate a config file and print what Sluice would do
  sluice --help                 this text

Signals: SIGTERM/SIGINT stop listening; live connections get shutdown.drain_timeout (30s) to end,
then are closed (the same signal again: at once); exit 0.
SIGHUP reloads the config file and the TLS certificates (live connections keep theirs).
Exit codes: 0 ok, 1 runtime failure (e.g. cannot listen), 2 bad config or usage.
`;

async function main(argv: string[]): Promise<number> {
  if (ignoredDebugVariables.length > 0) process.stderr.write(debugWarning());
  if (nodeDebugIsOn()) return runWithoutNodeDebug();
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    process.stderr.write(`sluice: ${(err as Error).message}\n\n${help}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) { process.stdout.write(help); return 0; }
  const command = positionals[0] ?? 'run';
  if (!['run', 'check'].includes(command) || positionals.length > 1) {
    process.stderr.write(`sluice: unknown command "${positionals.join(' ')}"\n\n${help}`);
    return 2;
  }

  let config: ResolvedConfig;
  let tls: ReturnType<typeof loadTlsMaterial>;
  let probePassword: Buffer | undefined;
  let adminToken: Buffer | undefined;
  try {
    const source = values.config ?? 'embedded default config';
    config = values.config ? loadConfigFile(values.config) : parseConfigText(embeddedConfigText, source);
    // Names become IPs here, once, so every worker binds the same address and duplicates are caught.
    config = await resolveListenerAddresses(config, source);
    // Certificates and keys are read and checked before anything starts: a bad file is a config error.
    tls = loadTlsMaterial(config, source);
    probePassword = readProbePassword(config, source);
    adminToken = readAdminToken(config, source);
  } catch (err) {
    if (err instanceof SluiceError) { process.stderr.write(`sluice: ${err.code}: ${err.message}\n`); return 2; }
    throw err;
  }

  if (command === 'check') { process.stdout.write(describe(config, values.config ?? 'embedded default', tls)); return 0; }

  const logFormat = resolveLogFormat(config.log.format);
  const log = createLogger(config.log.level, {}, logFormat);
  // Under systemd (Type=notify): READY, RELOADING, STOPPING, WATCHDOG. Read before anything is started.
  const notify = new ServiceNotify(log);
  for (const w of tls.warnings) log.warn({ listener: w.listener, cert: w.certFile }, w.msg);
  let running;
  try {
    running = await runSluice(config, log, tls.material, { source: values.config ?? 'embedded default config', configPath: values.config, probePassword, adminToken, notify, logFormat });
  } catch (err) {
    const e = err as Error & { code?: string };
    log.fatal({ code: e.code, err: e.message }, 'sluice could not start');
    return 1;
  }
  // SIGHUP reloads the config file and the TLS files; without a handler it would end the process.
  process.on('SIGHUP', () => void running.reload('SIGHUP'));
  // SIGTERM/SIGINT: a graceful stop (the drain); the same signal again ends the drain at once.
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      log.info({ signal }, 'stop signal');
      void running.stop().then(resolve);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  return 0;
}

/** What `sluice check` prints: the resolved plan, in words an operator can read. */
function describe(c: ResolvedConfig, source: string, tls: ReturnType<typeof loadTlsMaterial>): string {
  const lines = [
    `config ${source}: OK`,
    `workers: ${c.workers} (each listens with reusePort)`,
    ...c.listeners.flatMap((l, i) => {
      const where = describeListenHost(l.bind); // the IP a name resolved to, or what a wildcard covers
      const listen = `listen: ${l.protocol} ${l.bind.address}${l.bind.address.includes(where) ? '' : ` (${where})`}`;
      const m = tls.material[i];
      if (!m) return [listen];
      return [
        `${listen}, TLS ${m.minVersion}+, client certificates ${m.clientAuth}${m.alpn ? `, ALPN ${m.alpn.join(',')}` : ''}`,
        ...m.pairs.map((p, k) => `  certificate${k === 0 ? ' (default)' : ''}: ${p.certFile}: ${p.subject}, for ${p.names.join(', ') || '(no names)'}, valid until ${new Date(p.notAfterMs).toISOString()}`),
      ];
    }),
    ...tls.warnings.map((w) => `warning: ${w.listener} ${w.certFile}: ${w.msg}`),
    c.demo ? describeDemo(c.demo) : '',
    ...c.brokers.map((b) => `broker ${b.name}: ${b.address} weight ${b.weight}${b.weight === 0 ? ' (weight 0: never chosen)' : ''}${b.drain ? ' (draining: no new clients)' : ''}`),
    c.health.mqtt
      ? `health: MQTT ${c.health.mqtt.protocolVersion === 5 ? '5.0' : '3.1.1'} CONNECT probe every ${c.health.mqtt.intervalMs}ms, timeout ${c.health.mqtt.timeoutMs}ms, down after ${c.health.mqtt.fall} failures, up after ${c.health.mqtt.rise} passes${c.health.mqtt.username ? `, as user ${c.health.mqtt.username}` : ''}`
      : 'health: off (every broker counts as up)',
    `balance: ${c.balance.strategy}, key = first non-empty of [${c.balance.key.join(', ')}]` +
      (c.balance.strategy === 'sticky' || c.balance.strategy === 'consistent-hash' ? `, load bound ${c.balance.loadBound}` : ''),
    c.balance.strategy === 'sticky' ? `sticky table: ${c.sticky.capacity} slots, ttl ${c.sticky.ttlSec}s` : '',
    `limits: connect timeout ${c.limits.connectTimeoutMs}ms, max CONNECT ${c.limits.maxConnectBytes} bytes, broker connect timeout ${c.limits.brokerConnectTimeoutMs}ms, max connections ${c.limits.maxConnections}, connect rate ${c.limits.connectRatePerSec > 0 ? `${c.limits.connectRatePerSec}/s burst ${c.limits.connectBurst}` : 'unlimited'}`,
    c.admin ? `admin: http://${c.admin.bind.address}/healthz` : 'admin: off',
    `log level: ${c.log.level}`,
  ];
  return lines.filter(Boolean).join('\n') + '\n';
}

function describeDemo(demo: NonNullable<ResolvedConfig['demo']>): string {
  const where = `demo cluster: ${demo.brokers} brokers on ${demo.host}:${demo.firstPort}-${demo.firstPort + demo.brokers - 1}`;
  let engine;
  try {
    const choice = chooseDemoEngine(demo.engine, findMosquitto());
    const how = choice.engine === 'aedes' ? 'in-process'
      : `${choice.mosquittoPath}${demo.brokers > 1 ? ', a star of MQTT 5 bridges to demo-1' : ''}`;
    engine = `engine ${choice.engine} (${how}): ${servedProtocols(choice.engine)}`;
  } catch (err) {
    engine = `engine ${demo.engine}: would not start: ${(err as Error).message}`;
  }
  return `${where}, ${engine}`;
}

process.exitCode = await main(process.argv.slice(2));
