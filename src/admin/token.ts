// The admin API's bearer token: read from admin.token_file by the primary at the start (never in the
// config itself, never logged), and checked in constant time on every call that changes something.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ResolvedConfig } from '../config/resolved.ts';
import { configError } from '../errors.ts';

/** Shorter tokens are refused: a guessable token on a network-facing API is no token. */
export const kMinTokenBytes = 16;

/** The token (its file's text less surrounding whitespace), or undefined when no token_file is set. */
export function readAdminToken(config: ResolvedConfig, source: string): Buffer | undefined {
  const path = config.admin?.tokenFile;
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw configError(`${source} is invalid:\n  admin.token_file: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const token = Buffer.from(text.trim());
  if (token.length < kMinTokenBytes) {
    throw configError(`${source} is invalid:\n  admin.token_file: ${path} holds ${token.length} bytes of token; use at least ${kMinTokenBytes} (e.g. openssl rand -hex 32)`);
  }
  return token;
}

/**
 * Whether an Authorization header value carries `token` (`Bearer <token>`, RFC 6750). Both sides are
 * hashed first, so the comparison takes the same time whatever the lengths and contents.
 */
export function bearerMatches(header: string | undefined, token: Buffer): boolean {
  const m = /^Bearer +(\S+) *$/i.exec(header ?? '');
  const given = createHash('sha256').update(m ? m[1] : '').digest();
  const want = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, want) && m !== null;
}
