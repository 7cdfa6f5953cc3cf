// The `sluice` launcher (scripts/sluice.mjs) as a parent: SIGHUP reaches Sluice (a reload), SIGTERM
// reaches it (a graceful stop), and the launcher exits with Sluice's status.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../helpers/ports.ts';
import { startMosquittos } from '../helpers/mosquitto.ts';

const launcher = new URL('../../scripts/sluice.mjs', import.meta.url).pathname;

test('SIGHUP and SIGTERM to the launcher reach Sluice; the launcher exits 0 as Sluice did', async () => {
  const cluster = await startMosquittos(1);
  const dir = mkdtempSync(join(tmpdir(), 'sluice-launcher-'));
  try {
    const [port, adminPort] = [await freePort(), await freePort()];
    const file = join(dir, 'sluice.yaml');
    writeFileSync(file, stringify({ workers: 1, listeners: [{ bind: `127.0.0.1:${port}` }], admin: { bind: `127.0.0.1:${adminPort}` }, brokers: [{ name: 'm1', address: cluster.brokers[0].address }] }));
    const proc = spawn(process.execPath, [launcher, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SLUICE_LAUNCHER_CHILD: '1' } });
    let out = '';
    proc.stdout!.on('data', (d) => { out += d; });
    proc.stderr!.on('data', (d) => { out += d; });
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    const waitFor = async (what: RegExp) => {
      for (let i = 0; i < 300 && !what.test(out); i++) await new Promise((r) => setTimeout(r, 50));
      assert.match(out, what);
    };
    await waitFor(/sluice ready/);
    proc.kill('SIGHUP');
    await waitFor(/config reloaded/);
    proc.kill('SIGTERM');
    assert.is(await exited, 0);
    assert.match(out, /"signal":"SIGTERM","msg":"stop signal"/);
    assert.match(out, /sluice stopped/);
    const admin = await fetch(`http://127.0.0.1:${adminPort}/healthz`).then(() => 'answered', () => 'gone');
    assert.is(admin, 'gone', 'Sluice itself has stopped');
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await cluster.stop();
  }
});

test.run();
