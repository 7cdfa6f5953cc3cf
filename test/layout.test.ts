// The layout rules the code keeps: src/ (control plane and pure libraries) never imports from workers/
// (the data plane), and every runtime dependency in package.json is imported by shipped code.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

function files(dir: string, ext = /\.(ts|mjs)$/): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...files(path, ext));
    else if (ext.test(name)) out.push(path);
  }
  return out;
}

const importsOf = (path: string) => [...readFileSync(path, 'utf8').matchAll(/(?:from|import|require)\s*\(?\s*'([^']+)'/g)].map((m) => m[1]);

test('src/ never imports from workers/', () => {
  const offenders = files(join(root, 'src')).flatMap((f) => importsOf(f).filter((i) => /(^|\/)workers\//.test(i)).map((i) => `${relative(root, f)} -> ${i}`));
  assert.equal(offenders, []);
});

test('every runtime dependency is imported by src/, workers/ or scripts/ (bench and test-only packages are devDependencies)', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const shipped = [...files(join(root, 'src')), ...files(join(root, 'workers')), ...files(join(root, 'scripts'))];
  const used = new Set(shipped.flatMap(importsOf).map((i) => (i.startsWith('@') ? i.split('/').slice(0, 2).join('/') : i.split('/')[0])));
  // Packages used other than by an import: the Node 24 binary the launcher runs, and the addon loader.
  const notImported = new Set(['node']);
  const unused = Object.keys(pkg.dependencies).filter((d) => !used.has(d) && !notImported.has(d));
  assert.equal(unused, []);
});

test.run();
