// End to end, on each data path (the native engine, and Node sockets): what a connection source must do
// however it holds its sockets. A CONNECT cut at every byte is forwarded exactly; thousands of
// connections arriving at once are all served; a broker that refuses or never answers its connect is
// skipped for the next candidate, then the client gets 0x88 / 0x03; and after 10,000 connections Sluice
// holds no more descriptors than before.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { freePort } from '../helpers/ports.ts';
import { connackCode, connectBytes, rawExchange } from '../helpers/mqtt.ts';
import { sendPieces, startRecorder, type Recorder } from '../fuzz/listener-runner.ts';
import { stats, unaccounted, waitForStats } from '../helpers/stats.ts';

let recorder: Recorder;
let sluice: SluiceProcess;
const others: SluiceProcess[] = [];
let blackhole: ChildProcess | undefined;

test.before(async () => {
  recorder = await startRecorder();
  sluice = await startSluice({ workers: 2, brokers: [{ name: 'rec', address: `127.0.0.1:${recorder.port}` }], log: { level: 'warn' } });
});

test.after(async () => {
  await sluice?.stop();
  for (const s of others) await s.stop();
  blackhole?.kill('SIGKILL');
  await recorder?.close();
});

const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

test('a CONNECT (with a PUBLISH behind it) cut in two at every byte: forwarded exactly, each time', async () => {
  const bytes = Buffer.concat([
    connectBytes({ clientId: 'cut-everywhere', protocolVersion: 5, username: 'u', password: 'p' }),
    Buffer.from([0x30, 0x06, 0x00, 0x01, 0x74, 0x61, 0x62, 0x63]),
  ]);
  recorder.takeFinished();
  for (let cut = 1; cut < bytes.length; cut++) {
    const r = await sendPieces(sluice.port, [bytes.subarray(0, cut), bytes.subarray(cut)]);
    assert.is(r.reply, '', `cut ${cut}: nothing back but the close`);
    assert.not.ok(r.timedOut, `cut ${cut}`);
  }
  const got = recorder.takeFinished();
  assert.is(got.length, bytes.length - 1);
  for (const g of got) assert.is(g, bytes.toString('hex'));
});

test('3,000 connections arriving at once are all accepted, forwarded and closed', async () => {
  // The last test's pairs may still be ending (their broker side finished first): start from a settled count.
  const before = await waitForStats(sluice, (x) => x.counters.connections_closed === x.counters.connections_forwarded && x.openClients === 0, 'earlier pairs closed');
  recorder.takeFinished();
  const n = 3000;
  const results = await Promise.all(Array.from({ length: n }, (_, i) =>
    sendPieces(sluice.port, [connectBytes({ clientId: `burst-${i}`, protocolVersion: 4 })], 20_000)));
  assert.is(results.filter((r) => r.timedOut).length, 0);
  assert.is(recorder.takeFinished().length, n);
  const after = await waitForStats(sluice, (x) => x.counters.connections_closed - before.counters.connections_closed === n, 'every pair closed');
  assert.is(after.counters.connections_accepted - before.counters.connections_accepted, n);
  assert.is(after.counters.connections_forwarded - before.counters.connections_forwarded, n);
});

test('after 10,000 connections Sluice holds the descriptors it held before (plus pooled pipes)', async () => {
  const pid = sluice.process.pid!;
  type Pipes = { splice: { pipesPooled: number; pipesInUse: number } };
  const pipeFds = async () => { const p = (await sluice.admin<Pipes>('/api/stats')).body.splice; return 2 * (p.pipesPooled + p.pipesInUse); };
  // Measured right after an admin request: the connection it keeps alive is open in both counts.
  const pipesBefore = await pipeFds();
  const before = fds(pid) - pipesBefore;
  for (let i = 0; i < 10_000; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, k) => sendPieces(sluice.port, [connectBytes({ clientId: `fd-${i + k}`, protocolVersion: 4 })])));
  }
  recorder.takeFinished();
  await waitForStats(sluice, (x) => x.openClients === 0 && x.pendingClients === 0 && unaccounted(x) === 0, 'all over');
  const pipes = await pipeFds();
  assert.is(fds(pid) - pipes, before);
});

/** A port whose connects are never answered: a listener with a full accept queue that never accepts. */
async function blackholePort(): Promise<number> {
  const port = await freePort();
  blackhole = spawn('python3', ['-c', `
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', ${port})); s.listen(0)
held = []
for _ in range(4):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(('127.0.0.1', ${port}))
    except BlockingIOError: pass
    held.append(c)
print('ready', flush=True)
time.sleep(120)
`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    blackhole!.stdout!.once('data', () => resolve());
    blackhole!.once('exit', (code) => reject(new Error(`blackhole exited ${code}`)));
  });
  return port;
}

test('a broker that refuses and one that never answers are skipped; with none left: 0x88 (5.0) / 0x03 (3.1.1)', async () => {
  const silent = await blackholePort();
  const refusing = await freePort(); // nothing listens there
  const s = await startSluice({
    workers: 1,
    balance: { strategy: 'round-robin' },
    brokers: [{ name: 'silent', address: `127.0.0.1:${silent}` }, { name: 'refusing', address: `127.0.0.1:${refusing}` }, { name: 'rec', address: `127.0.0.1:${recorder.port}` }],
    limits: { broker_connect_timeout: '300ms' },
    log: { level: 'warn' },
  });
  others.push(s);
  recorder.takeFinished();
  // Round-robin starts each client at the next broker: whichever it starts at, it ends on the recorder.
  for (let i = 0; i < 3; i++) {
    const r = await sendPieces(s.port, [connectBytes({ clientId: `skip-${i}`, protocolVersion: 4 })], 5000);
    assert.not.ok(r.timedOut);
  }
  assert.is(recorder.takeFinished().length, 3, 'every client reached the live broker');
  const st = await stats(s);
  assert.is(st.counters.broker_connect_failures, 3, 'one failure per client that started at a dead broker (2 of 3), plus the refusing one after the silent');
  assert.match(s.output(), /ETIMEDOUT/);
  assert.match(s.output(), /ECONNREFUSED/);

  const dead = await startSluice({
    workers: 1,
    brokers: [{ name: 'silent', address: `127.0.0.1:${silent}` }, { name: 'refusing', address: `127.0.0.1:${refusing}` }],
    limits: { broker_connect_timeout: '300ms' },
    log: { level: 'warn' },
  });
  others.push(dead);
  const r5 = await rawExchange(dead.port, [connectBytes({ clientId: 'nowhere', protocolVersion: 5 })]);
  assert.is(connackCode(r5.data, 5), 0x88);
  const r4 = await rawExchange(dead.port, [connectBytes({ clientId: 'nowhere', protocolVersion: 4 })]);
  assert.is(connackCode(r4.data, 4), 0x03);
  assert.ok(r4.elapsedMs >= 290, `the silent broker's timeout was waited for (${r4.elapsedMs} ms)`);
  assert.is((await stats(dead)).counters.refused_no_broker, 2);
});

test.run();
