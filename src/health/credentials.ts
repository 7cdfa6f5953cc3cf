// The health probe's password, read from health.mqtt.password_file by the primary only (it is never in
// the config itself, never sent to the workers, never logged).
import { readFileSync } from 'node:fs';
import type { ResolvedConfig } from '../config/resolved.ts';
import { configError } from '../errors.ts';

/** Largest password MQTT can carry (a two-byte length). */
const kMaxPasswordBytes = 65_535;

/** The file's bytes less one trailing newline (how `echo` and editors leave it); undefined with no file. */
export function readProbePassword(config: ResolvedConfig, source: string): Buffer | undefined {
  const path = config.health.mqtt?.passwordFile;
  if (path === undefined) return undefined;
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw configError(`${source} is invalid:\n  health.mqtt.password_file: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const end = bytes.length - (bytes.at(-1) === 0x0a ? (bytes.at(-2) === 0x0d ? 2 : 1) : 0);
  const password = bytes.subarray(0, end);
  if (password.length > kMaxPasswordBytes) {
    throw configError(`${source} is invalid:\n  health.mqtt.password_file: ${path} holds ${password.length} bytes; an MQTT password is at most ${kMaxPasswordBytes}`);
  }
  return password;
}
