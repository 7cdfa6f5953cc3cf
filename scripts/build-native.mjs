// Install step: builds the splice addon (binding.gyp) against Node headers already on this machine, never
// downloading any; where it can't build, Sluice runs the JS data path, so a failure warns and exits 0.
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function skip(why) {
  console.warn(`sluice: splice addon not built (${why}); the JS data path will be used`);
  process.exit(0);
}

if (process.platform !== 'linux') skip('splice(2) is Linux-only');
if (process.env.SLUICE_SPLICE === 'off') skip('SLUICE_SPLICE=off');

// Headers, best first. The addon uses only Node-API 8 and libuv 1.x, both ABI-stable, so headers of any
// Node >= 16 build an addon that Node 24 loads; exact ones are preferred when present.
const candidates = [
  process.env.SLUICE_NODEDIR,
  // The `node` npm package installs its binary through this package, headers included (a later
  // `npm install` of something else may prune it: then the next candidates serve).
  join(root, 'node_modules', 'node', 'node_modules', `node-${process.platform}-${process.arch}`),
  join(dirname(process.execPath), '..'), // official tarball and nvm layout: bin/node beside include/node
  '/usr/local',
  '/usr', // Debian/Ubuntu nodejs
].filter(Boolean);
const nodedir = candidates.find((d) => ['node_api.h', 'uv.h', 'common.gypi'].every((f) => existsSync(join(d, 'include', 'node', f))));
if (!nodedir) skip(`no Node headers in ${candidates.join(', ')}`);

// In npm scripts npm names its bundled node-gyp; otherwise a local one, then npm's own, else PATH's.
let nodeGyp = process.env.npm_config_node_gyp;
if (!nodeGyp) {
  try { nodeGyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'); } catch { nodeGyp = undefined; }
}
if (!nodeGyp) {
  // npm's bundled node-gyp, found from the npm on PATH (bin/npm-cli.js inside npm's package).
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      const bundled = join(dirname(realpathSync(join(dir, 'npm'))), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
      if (existsSync(bundled)) { nodeGyp = bundled; break; }
    } catch { /* no npm here */ }
  }
}
const args = ['rebuild', `--nodedir=${nodedir}`];
const r = nodeGyp
  ? spawnSync(process.execPath, [nodeGyp, ...args], { cwd: root, stdio: 'inherit' })
  : spawnSync('node-gyp', args, { cwd: root, stdio: 'inherit' });
if (r.status !== 0) skip(`node-gyp failed: ${r.error?.message ?? `exit ${r.status}`}`);
console.log(`sluice: splice addon built against ${nodedir}/include/node`);
