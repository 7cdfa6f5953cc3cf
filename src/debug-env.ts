// Imported first by the CLI, before any dependency: debug switches in the environment that make
// dependencies or Node print raw client bytes (CONNECT passwords) are turned off. Sluice has its own
// levels (log.level: debug), which never print a secret.
//
// - DEBUG: the `debug` package (mqtt-packet, aedes, ...) reads it when it loads: mqtt-packet:parser
//   prints each parsed password buffer. Removed here, before anything loads it; workers inherit the env.
// - NODE_DEBUG: Node reads it when the thread starts (NODE_DEBUG=stream prints every chunk read), too
//   early to undo: the CLI runs itself again without it (runWithoutNodeDebug).
import { spawn } from 'node:child_process';

/** Debug variables that were set and are ignored, for the one warning line the CLI prints. */
export const ignoredDebugVariables: string[] = [];

if (process.env.DEBUG !== undefined) {
  ignoredDebugVariables.push('DEBUG');
  delete process.env.DEBUG;
}
if (process.env.NODE_DEBUG !== undefined) ignoredDebugVariables.push('NODE_DEBUG');

/** True when this thread started with NODE_DEBUG set: the CLI must not serve clients in it. */
export function nodeDebugIsOn(): boolean {
  return process.env.NODE_DEBUG !== undefined;
}

/**
 * Runs this same command again without NODE_DEBUG, passing signals on; resolves with its exit code
 * (1 when it was killed by a signal).
 */
export function runWithoutNodeDebug(): Promise<number> {
  const env = { ...process.env };
  delete env.NODE_DEBUG;
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

export const debugWarning = (): string =>
  `sluice: ${ignoredDebugVariables.join(' and ')} ignored: they make dependencies and Node print raw client bytes (CONNECT passwords); use log: { level: debug }\n`;
