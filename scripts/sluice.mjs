#!/usr/bin/env node
// Launcher for the `sluice` bin: runs src/cli.ts on Node >= 24, re-executing with the project's own
// Node 24 (npm package `node`) when the system Node is older (these machines ship Node 20). As a parent
// it passes every signal an operator sends on to Sluice and ends as Sluice ended (its exit code, or the
// same signal).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const major = Number(process.versions.node.split('.')[0]);
// SLUICE_LAUNCHER_CHILD=1: run Sluice as a child even on Node 24 (how the tests reach this path).
const asChild = major < 24 || process.env.SLUICE_LAUNCHER_CHILD === '1';
if (!asChild) {
  await import(cli);
} else {
  const node = major >= 24 ? process.execPath : fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
  if (!existsSync(node)) {
    process.stderr.write(`sluice: needs Node.js >= 24 (this is ${process.version}); run npm install to fetch it\n`);
    process.exit(1);
  }
  const child = spawn(node, [cli, ...process.argv.slice(2)], { stdio: 'inherit' });
  // Stop (TERM, INT, QUIT), reload (HUP), and the rest an operator may send; KILL and STOP cannot be caught.
  const signals = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT'];
  for (const signal of signals) process.on(signal, () => { if (child.exitCode === null) child.kill(signal); });
  child.on('error', (err) => {
    process.stderr.write(`sluice: cannot start ${node}: ${err.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal === null) process.exit(code ?? 1);
    // Killed by a signal: end the same way, so a service manager sees what happened.
    for (const s of signals) process.removeAllListeners(s);
    process.kill(process.pid, signal);
  });
}
