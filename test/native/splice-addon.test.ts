// The splice addon's own contract: bad arguments throw (never abort), idle pairs hold no pipes, stopAll
// ends pairs as 'shutdown', each worker thread has its own state and a terminated worker closes its pairs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openSync, closeSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import { forwardSplice, stopSplicedPairs } from '../../workers/forward-splice.ts';
import { splice } from '../../workers/splice-addon.ts';
import { freePort } from '../helpers/ports.ts';
import { startHarness, openClient, receiveAll, waitFor, fdCount, delay } from './harness.ts';

const root = new URL('../../', import.meta.url);

/** A connected loopback pair, for fds the addon accepts. */
async function socketPair(): Promise<{ a: Socket; b: Socket; server: Server }> {
  const port = await freePort();
  const server = createServer();
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const a = await openClient(port);
  return { a, b: await accepted, server };
}

const fdOf = (s: Socket) => (s as Socket & { _handle: { fd: number } })._handle.fd;

test('bad arguments throw a coded error; the process lives on', async () => {
  const b = splice!;
  assert.ok(b, 'the addon is loaded');
  const { a, b: peer, server } = await socketPair();
  const file = openSync(new URL('package.json', root), 'r');
  const noop = () => {};
  const cases: Array<[string, () => unknown]> = [
    ['no arguments', () => (b.start as unknown as () => unknown)()],
    ['a string fd', () => b.start('3' as unknown as number, fdOf(peer), noop)],
    ['a fractional fd', () => b.start(1.5, fdOf(peer), noop)],
    ['a negative fd', () => b.start(-1, fdOf(peer), noop)],
    ['the same fd twice', () => b.start(fdOf(a), fdOf(a), noop)],
    ['a file, not a socket', () => b.start(file, fdOf(peer), noop)],
    ['no callback', () => b.start(fdOf(a), fdOf(peer), 'x' as unknown as () => void)],
    ['pipeBytes too small', () => b.configure(100, 4)],
    ['poolMax negative', () => b.configure(65536, -1)],
  ];
  try {
    for (const [what, call] of cases) {
      try {
        call();
        assert.unreachable(`${what}: did not throw`);
      } catch (err) {
        assert.instance(err, Error, what);
        assert.is((err as NodeJS.ErrnoException).code, 'SLUICE_ERR_SPLICE_ARG', what);
      }
    }
    assert.is(b.stats().pairs, 0, 'nothing started');
  } finally {
    closeSync(file);
    a.destroy();
    peer.destroy();
    server.close();
  }
});

test('idle pairs hold no pipes; configure sets the pipe size and pool bound', async () => {
  const b = splice!;
  b.configure(64 * 1024, 4);
  const h = await startHarness(forwardSplice, { onBroker: (s) => s.pipe(s) });
  try {
    const clients = await Promise.all(Array.from({ length: 50 }, () => openClient(h.port)));
    await waitFor(() => b.stats().pairs === 50, '50 pairs forwarding');
    // Each pair moves a little both ways, then goes quiet but stays open.
    await Promise.all(clients.map((c) => new Promise<void>((r) => { c.once('data', () => r()); c.write('ping'); })));
    const st = b.stats();
    assert.is(st.pairs, 50);
    assert.is(st.pipesInUse, 0, 'quiet directions gave their pipes back');
    assert.ok(st.pipesPooled <= 4, `pool bound: ${st.pipesPooled}`);
    assert.is(st.pipeBytes, 64 * 1024);
    for (const c of clients) c.end();
    await h.waitEnds(50);
  } finally {
    await h.close();
    b.configure(1 << 20, 16);
  }
});

test('stopSplicedPairs ends every pair with reason shutdown and closes both peers', async () => {
  const h = await startHarness(forwardSplice, {
    onBroker: (s) => {
      s.pipe(s);
      s.once('end', () => s.end());
    },
  });
  try {
    const clients = await Promise.all(Array.from({ length: 5 }, () => openClient(h.port)));
    await waitFor(() => splice!.stats().pairs === 5, 'pairs forwarding');
    const seen = clients.map((c) => receiveAll(c));
    assert.is(stopSplicedPairs(), 5);
    await h.waitEnds(5);
    assert.ok(h.ends.every((e) => e.reason === 'shutdown'), h.ends.map((e) => e.reason).join());
    assert.ok((await Promise.all(seen)).every((r) => r.ended), 'every client saw its connection end');
    assert.is(splice!.stats().pairs, 0);
  } finally {
    await h.close();
  }
});

// Runs in a worker thread: a proxy on `port` forwarding with forwardSplice to the broker on `brokerPort`.
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');
(async () => {
  const { forwardSplice } = await import(workerData.forwardUrl);
  const { splice } = await import(workerData.addonUrl);
  const server = net.createServer({ allowHalfOpen: true }, (c) => {
    c.pause();
    const b = net.connect({ port: workerData.brokerPort, host: '127.0.0.1', allowHalfOpen: true }, () => {
      forwardSplice(c, b, { clientToBroker: 0, brokerToClient: 0 }).then((end) => parentPort.postMessage({ type: 'end', end }));
    });
  });
  parentPort.on('message', () => parentPort.postMessage({ type: 'stats', stats: splice.stats() }));
  server.listen(workerData.port, '127.0.0.1', () => parentPort.postMessage({ type: 'listening' }));
})();
`;

type WorkerProxy = { worker: Worker; stats(): Promise<{ pairs: number; pipesInUse: number; bytesHeld: number }> };

async function startWorkerProxy(port: number, brokerPort: number): Promise<WorkerProxy> {
  const worker = new Worker(workerSource, {
    eval: true,
    workerData: {
      port,
      brokerPort,
      forwardUrl: new URL('workers/forward-splice.ts', root).href,
      addonUrl: new URL('workers/splice-addon.ts', root).href,
    },
  });
  await new Promise<void>((resolve, reject) => {
    worker.on('message', (m: { type: string }) => { if (m.type === 'listening') resolve(); });
    worker.once('error', reject);
  });
  return {
    worker,
    stats: () => new Promise((resolve) => {
      const on = (m: { type: string; stats: { pairs: number; pipesInUse: number; bytesHeld: number } }) => {
        if (m.type !== 'stats') return;
        worker.off('message', on);
        resolve(m.stats);
      };
      worker.on('message', on);
      worker.postMessage('stats');
    }),
  };
}

test('worker threads: each has its own pairs; terminating one closes its pairs, pipes and fds', async () => {
  // The broker echoes, except on connections that say "hold": those are never read (their pipes fill).
  const brokerPort = await freePort();
  const brokerSockets: Socket[] = [];
  const heldAtBroker: Socket[] = [];
  const broker = createServer({ allowHalfOpen: true }, (s) => {
    brokerSockets.push(s);
    s.on('error', () => {});
    s.once('data', (d: Buffer) => {
      if (d.toString().startsWith('hold')) { s.pause(); heldAtBroker.push(s); return; }
      s.write(d);
      s.pipe(s);
    });
    s.once('end', () => s.end());
  });
  await new Promise<void>((r) => broker.listen(brokerPort, '127.0.0.1', r));
  const fdsBefore = fdCount();
  const ports = [await freePort(), await freePort()];
  const proxies = await Promise.all(ports.map((p) => startWorkerProxy(p, brokerPort)));
  try {
    // Worker 0: three echoing pairs and one held pair with bytes stuck in its pipe; worker 1: one pair.
    const clients0 = await Promise.all([0, 1, 2].map(() => openClient(ports[0])));
    await Promise.all(clients0.map((c) => new Promise<void>((r) => { c.once('data', () => r()); c.write('echo'); })));
    const held = await openClient(ports[0]);
    held.on('error', () => {});
    held.write('hold');
    const big = Buffer.alloc(1 << 20);
    for (let i = 0; i < 64; i++) held.write(big);
    const client1 = await openClient(ports[1]);
    await new Promise<void>((r) => { client1.once('data', () => r()); client1.write('echo'); });
    await waitFor(() => held.writableLength < 64 << 20, 'bytes moving into the held pair');
    // Until the broker's receive buffer and the proxy's send buffer are full and the held pair holds bytes
    // it cannot write on: in its pipe (read while splicing) or in memory (read by a copy). Which one
    // depends on how the bytes arrived; either must be released when the thread ends.
    let [s0, s1] = await Promise.all(proxies.map((p) => p.stats()));
    for (let i = 0; i < 50 && s0.bytesHeld === 0; i++) {
      await delay(100);
      [s0, s1] = await Promise.all(proxies.map((p) => p.stats()));
    }
    assert.is(s0.pairs, 4);
    assert.ok(s0.bytesHeld > 0, `the held pair holds bytes (${s0.bytesHeld}, ${s0.pipesInUse} pipes in use)`);
    assert.is(s1.pairs, 1);
    assert.is(splice!.stats().pairs, 0, 'the main thread has pairs of its own only');

    // Terminate worker 0 mid-stream: its pairs close without JS (teardown) and its peers see the end.
    const seen = [...clients0, held].map((c) => receiveAll(c, 10_000));
    const exitCode = await proxies[0].worker.terminate();
    assert.is(exitCode, 1);
    const results = await Promise.all(seen);
    assert.ok(results.every((r) => r.ended || r.error !== undefined), 'every client of the gone worker saw its end');

    // Worker 1 is untouched and still forwards.
    const again = new Promise<string>((r) => client1.once('data', (d: Buffer) => r(d.toString())));
    client1.write('still');
    assert.is(await again, 'still');
    client1.end();
    await proxies[1].worker.terminate();
    for (const s of heldAtBroker) s.resume(); // read what is left, then the FIN
    for (const c of [...clients0, held, client1]) c.destroy();
    await waitFor(() => brokerSockets.every((s) => s.closed), 'broker sockets closed');
    await waitFor(() => fdCount() <= fdsBefore, `fds back to ${fdsBefore} (now ${fdCount()})`);
  } finally {
    for (const p of proxies) await p.worker.terminate();
    broker.close();
  }
});

test('out of fds for the dups (EMFILE): the pair falls back to the JS path and still forwards', async () => {
  const h = await startHarness(forwardSplice, {
    onBroker: (s) => {
      s.pipe(s);
      s.once('end', () => s.end());
    },
  });
  const fillers: number[] = [];
  try {
    // Fill the fd table, then free exactly the four fds one pair's sockets take (client, accepted,
    // broker connect, broker accepted): the addon's two dups then fail with EMFILE.
    for (;;) {
      try { fillers.push(openSync('/dev/null', 'r')); } catch { break; }
    }
    for (let i = 0; i < 4; i++) closeSync(fillers.pop()!);
    const c = await openClient(h.port);
    await waitFor(() => h.forwarding() === 1, 'forwarding');
    await delay(50);
    assert.is(splice!.stats().pairs, 0, 'no spliced pair: the addon could not dup');
    for (const fd of fillers.splice(0)) closeSync(fd);
    const got = receiveAll(c);
    c.end('via the JS path');
    const r = await got;
    assert.is(r.bytes, 'via the JS path'.length);
    await h.waitEnds(1);
    assert.equal(h.ends[0], { bytesClientToBroker: 15, bytesBrokerToClient: 15, reason: 'client-closed', error: undefined });
  } finally {
    for (const fd of fillers) closeSync(fd);
    await h.close();
  }
});

test('SLUICE_SPLICE=off turns the addon off, with the reason', () => {
  const r = spawnSync(process.execPath, ['-e',
    `import('./workers/splice-addon.ts').then((m) => console.log(JSON.stringify([m.spliceAvailable, m.spliceUnavailableReason])))`],
  { cwd: new URL('.', root).pathname, env: { ...process.env, SLUICE_SPLICE: 'off' }, encoding: 'utf8', timeout: 10_000 });
  assert.equal(JSON.parse(r.stdout), [false, 'turned off by SLUICE_SPLICE=off']);
});

test.run();
