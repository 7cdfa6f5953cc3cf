// End to end: the systemd notify protocol against a unix datagram socket this test binds (python3 holds
// it: Node has no unix datagram sockets, and python3 is there wherever the addon builds). Sluice sends
// READY=1 once it listens, RELOADING=1 (with MONOTONIC_USEC) then READY=1 around a SIGHUP, WATCHDOG=1
// every half WATCHDOG_USEC, and STOPPING=1 at SIGTERM (test/primary/service-notify.test.ts: the rest).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startMosquittos, type MosquittoCluster } from '../helpers/mosquitto.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';

let cluster: MosquittoCluster;
let dir: string;
let sink: ChildProcess;
const datagrams: string[] = [];

/** Binds `path`, then prints each datagram received as one JSON line. */
const receiver = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps("bound"), flush=True)
while True:
    print(json.dumps(s.recv(4096).decode()), flush=True)
`;

test.before(async () => {
  cluster = await startMosquittos(1);
  dir = mkdtempSync(join(tmpdir(), 'sluice-notify-'));
  sink = spawn('python3', ['-c', receiver, join(dir, 'notify.sock')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: sink.stdout! });
  await new Promise<void>((resolve) => lines.on('line', (line) => {
    const d = JSON.parse(line) as string;
    if (d === 'bound') resolve();
    else datagrams.push(d);
  }));
});

test.after(async () => {
  sink?.kill();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function waitFor(what: RegExp, from: number, timeoutMs = 5000): Promise<string> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline;) {
    const hit = datagrams.slice(from).find((d) => what.test(d));
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no datagram ${what}; got ${JSON.stringify(datagrams.slice(from))}`);
}

test('READY, RELOADING then READY, WATCHDOG, STOPPING', async () => {
  let sluice: SluiceProcess | undefined;
  try {
    sluice = await startSluice({ workers: 1, brokers: [{ name: 'm1', address: cluster.brokers[0].address }], log: { level: 'info' } },
      { env: { NOTIFY_SOCKET: join(dir, 'notify.sock'), WATCHDOG_USEC: '200000' } });
    assert.match(await waitFor(/^READY=1/, 0), /^READY=1\nSTATUS=serving 1 workers, 1 brokers$/);
    const beforeWatchdog = datagrams.length;
    await waitFor(/^WATCHDOG=1$/, beforeWatchdog, 1000);

    const beforeReload = datagrams.length;
    sluice.process.kill('SIGHUP');
    const reloading = await waitFor(/^RELOADING=1/, beforeReload);
    assert.match(reloading, /^RELOADING=1\nMONOTONIC_USEC=\d+\nSTATUS=reloading the config$/);
    const at = datagrams.indexOf(reloading, beforeReload);
    await waitFor(/^READY=1/, at + 1);

    const beforeStop = datagrams.length;
    sluice.process.kill('SIGTERM');
    assert.match(await waitFor(/^STOPPING=1/, beforeStop), /^STOPPING=1\nSTATUS=draining/);
    await new Promise<void>((resolve) => (sluice!.process.exitCode !== null ? resolve() : sluice!.process.once('exit', () => resolve())));
    assert.is(sluice.process.exitCode, 0);
  } finally {
    await sluice?.stop();
  }
});

test.run();
