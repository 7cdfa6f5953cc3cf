#!/usr/bin/env node
// Launcher for the `sluice` bin: runs src/cli.ts on Node >= 24, re-executing with the project's own
// Node 24 (npm package `node`) when the system Node is older (these machines ship Node 20).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const major = Number(process.versions.node.split('.')[0]);
if (major >= 24) {
  await import(cli);
} else {
  const localNode = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
  if (!existsSync(localNode)) {
    process.stderr.write(`sluice: needs Node.js >= 24 (this is ${process.version}); run npm install to fetch it\n`);
    process.exit(1);
  }
  const child = spawn(localNode, [cli, ...process.argv.slice(2)], { stdio: 'inherit' });
  // Pass stop signals on, so `kill` of the launcher stops Sluice gracefully too.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
