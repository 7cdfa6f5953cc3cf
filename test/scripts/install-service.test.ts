// scripts/install-service.sh into a scratch root (no user, no systemctl, this checkout's packages): the
// unit with its prefix filled in and the settings the service needs, a config that `sluice check`
// accepts, an admin token readable by the service only; a second run keeps the token and the config.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const script = new URL('../../scripts/install-service.sh', import.meta.url).pathname;

test('installs the project, the unit, a valid config and a token; a rerun keeps what is there', () => {
  const root = mkdtempSync(join(tmpdir(), 'sluice-install-'));
  try {
    const run = () => spawnSync('bash', [script, '--destdir', root, '--offline', '--no-user', '--no-systemctl'], { encoding: 'utf8' });
    const first = run();
    assert.is(first.status, 0, first.stderr);
    const unit = readFileSync(join(root, 'etc/systemd/system/sluice.service'), 'utf8');
    for (const line of [
      'Type=notify', 'NotifyAccess=main',
      'ExecStart=/opt/sluice/node_modules/node/bin/node /opt/sluice/src/cli.ts --config /etc/sluice/sluice.yaml',
      'ExecReload=/bin/kill -HUP $MAINPID', 'WatchdogSec=30', 'LimitNOFILE=1048576',
      'AmbientCapabilities=CAP_SYS_RESOURCE CAP_NET_BIND_SERVICE', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'User=sluice',
    ]) assert.ok(unit.split('\n').includes(line), `unit has ${line}`);
    assert.not.match(unit, /@PREFIX@/);

    const tokenFile = join(root, 'etc/sluice/admin.token');
    const token = readFileSync(tokenFile, 'utf8');
    assert.match(token, /^[0-9a-f]{64}\n$/);
    assert.is(statSync(tokenFile).mode & 0o777, 0o640);
    assert.is(statSync(join(root, 'etc/sluice/sluice.yaml')).mode & 0o777, 0o640);

    // The installed Sluice checks the installed config (its /etc/sluice paths moved under the scratch root).
    const config = readFileSync(join(root, 'etc/sluice/sluice.yaml'), 'utf8').replaceAll('/etc/sluice/', `${root}/etc/sluice/`);
    writeFileSync(join(root, 'check.yaml'), config);
    const check = spawnSync(join(root, 'opt/sluice/node_modules/node/bin/node'), [join(root, 'opt/sluice/src/cli.ts'), 'check', '--config', join(root, 'check.yaml')], { encoding: 'utf8' });
    assert.is(check.status, 0, check.stderr);
    assert.match(check.stdout, /OK/);

    writeFileSync(join(root, 'etc/sluice/sluice.yaml'), '# edited by the operator\n');
    const second = run();
    assert.is(second.status, 0, second.stderr);
    assert.is(readFileSync(tokenFile, 'utf8'), token, 'the token is kept');
    assert.is(readFileSync(join(root, 'etc/sluice/sluice.yaml'), 'utf8'), '# edited by the operator\n', 'the config is kept');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
