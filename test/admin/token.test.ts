// The admin token: read from its file (whitespace around it dropped; too short, missing: config errors),
// and matched only as "Bearer <token>".
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bearerMatches, readAdminToken } from '../../src/admin/token.ts';
import type { ResolvedConfig } from '../../src/config/resolved.ts';

const configWith = (tokenFile: string | undefined) => ({ admin: { bind: { address: '127.0.0.1:9100', host: '127.0.0.1', port: 9100 }, tokenFile } }) as ResolvedConfig;

test('read from the file, trimmed; too short or unreadable is a config error that names the file, not the token', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-token-'));
  try {
    writeFileSync(join(dir, 'ok'), '  s3cret-token-0123456789\n');
    assert.equal(readAdminToken(configWith(join(dir, 'ok')), 'c.yaml'), Buffer.from('s3cret-token-0123456789'));
    assert.is(readAdminToken(configWith(undefined), 'c.yaml'), undefined);
    writeFileSync(join(dir, 'short'), 'tiny-secret\n');
    assert.throws(() => readAdminToken(configWith(join(dir, 'short')), 'c.yaml'), (e: Error) => /holds 11 bytes of token; use at least 16/.test(e.message) && !e.message.includes('tiny-secret'));
    assert.throws(() => readAdminToken(configWith(join(dir, 'none')), 'c.yaml'), /admin\.token_file: cannot read .*none: ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bearerMatches: the scheme is case-blind, the token is exact', () => {
  const token = Buffer.from('s3cret-token-0123456789');
  assert.ok(bearerMatches('Bearer s3cret-token-0123456789', token));
  assert.ok(bearerMatches('bearer s3cret-token-0123456789', token));
  for (const h of [undefined, '', 'Bearer', 'Bearer ', 's3cret-token-0123456789', 'Basic s3cret-token-0123456789', 'Bearer s3cret-token-012345678', 'Bearer s3cret-token-01234567890', 'Bearer S3CRET-TOKEN-0123456789']) {
    assert.not.ok(bearerMatches(h, token), String(h));
  }
});

test.run();
