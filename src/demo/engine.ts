// Which broker the demo cluster runs on: Mosquitto when it is installed (MQTT 3.1, 3.1.1 and 5), else aedes.
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { DemoEngineChoice } from '../config/schema.ts';
import { ErrorCode, SluiceError } from '../errors.ts';

export type DemoEngineName = Exclude<DemoEngineChoice, 'auto'>;
export type DemoEngine = { engine: 'mosquitto'; mosquittoPath: string; why: string } | { engine: 'aedes'; mosquittoPath?: undefined; why: string };

// Debian installs the broker in /usr/sbin, which is not on an ordinary user's PATH.
const mosquittoFallbackDirs = ['/usr/sbin'];
const installHint = 'install mosquitto (apt-get install mosquitto)';

/** The first executable `mosquitto` in `path` (PATH syntax), then in `extraDirs`; undefined when none. */
export function findMosquitto(opts: { path?: string; extraDirs?: string[] } = {}): string | undefined {
  const dirs = [...(opts.path ?? process.env.PATH ?? '').split(delimiter), ...(opts.extraDirs ?? mosquittoFallbackDirs)];
  for (const dir of dirs) {
    if (!dir) continue;
    const file = join(dir, 'mosquitto');
    try {
      if (!statSync(file).isFile()) continue;
      accessSync(file, constants.X_OK);
      return file;
    } catch { /* not there, or not executable */ }
  }
  return undefined;
}

/**
 * Resolves the configured engine against what is installed (`mosquittoPath` from findMosquitto).
 * Throws SLUICE_ERR_DEMO when `mosquitto` is asked for and none is installed.
 */
export function chooseDemoEngine(choice: DemoEngineChoice, mosquittoPath: string | undefined): DemoEngine {
  if (choice === 'aedes') return { engine: 'aedes', why: 'demo.engine: aedes' };
  if (mosquittoPath) return { engine: 'mosquitto', mosquittoPath, why: `demo.engine: ${choice}, found ${mosquittoPath}` };
  if (choice === 'mosquitto') {
    throw new SluiceError(ErrorCode.demo, `demo.engine is mosquitto but no mosquitto was found on PATH or in ${mosquittoFallbackDirs.join(', ')}: ${installHint}, or set demo.engine: auto`);
  }
  return { engine: 'aedes', why: `demo.engine: auto, mosquitto not found on PATH or in ${mosquittoFallbackDirs.join(', ')}` };
}

/** The MQTT protocol levels an engine's demo brokers accept, as the start-up line and `sluice check` say it. */
export function servedProtocols(engine: DemoEngineName): string {
  return engine === 'mosquitto' ? 'MQTT 3.1, 3.1.1 and 5.0' : `MQTT 3.1 and 3.1.1 only; ${installHint} for MQTT 5`;
}
