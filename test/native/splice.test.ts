// One suite, two data paths: forwardJs and forwardSplice must move bytes exactly, pass half-close, resets
// and backpressure through, count bytes right, and agree with each other (as bufferutil tests native vs JS).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes, createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import type { ForwardEnd, ForwardFn } from '../../workers/forward.ts';
import { forwardJs } from '../../workers/forward-js.ts';
import { forwardSplice, takeSplicedBytes } from '../../workers/forward-splice.ts';
import { splice, spliceAvailable, spliceUnavailableReason } from '../../workers/splice-addon.ts';
import { startHarness, openClient, receiveAll, sendAll, sha256, waitFor, delay, type Received } from './harness.ts';

const MiB = 1 << 20;

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => { resolve = r; });
  return { promise, resolve };
}

/** Resolves when the socket has closed (immediately if it already has); rejects after `timeoutMs`. */
function closed(s: Socket, timeoutMs = 10_000): Promise<void> {
  if (s.closed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('socket still open')), timeoutMs);
    s.once('close', () => { clearTimeout(t); resolve(); });
  });
}

const impls: Array<[string, ForwardFn]> = [['forwardJs', forwardJs], ['forwardSplice', forwardSplice]];

for (const [name, forward] of impls) {
  const t = suite(name);

  t('32 MiB each way at once arrive byte-exact (sha256), after the preamble, and ForwardEnd counts them', async () => {
    const preamble = randomBytes(MiB); // like CONNECT + leftovers: written just before forward, must flush first
    const up = randomBytes(32 * MiB);
    const down = randomBytes(32 * MiB);
    const atBroker = deferred<Received>();
    const h = await startHarness(forward, {
      preamble,
      onBroker: (s) => {
        void receiveAll(s).then(atBroker.resolve);
        void sendAll(s, down, true);
      },
    });
    try {
      takeSplicedBytes(); // this thread's addon totals start from here
      const c = await openClient(h.port);
      await waitFor(() => h.forwarding() === 1, 'forwarding');
      const atClient = receiveAll(c);
      await sendAll(c, up, true);
      const [gotC, gotB] = await Promise.all([atClient, atBroker.promise]);
      assert.is(gotB.bytes, preamble.length + up.length);
      assert.is(gotB.sha256, sha256(Buffer.concat([preamble, up])));
      assert.ok(gotB.ended, 'broker saw the client FIN');
      assert.is(gotC.bytes, down.length);
      assert.is(gotC.sha256, sha256(down));
      assert.ok(gotC.ended, 'client saw the broker FIN');
      await h.waitEnds(1);
      const end = h.ends[0];
      assert.is(end.bytesClientToBroker, up.length);
      assert.is(end.bytesBrokerToClient, down.length);
      assert.ok(end.reason === 'client-closed' || end.reason === 'broker-closed', end.reason);
      // The live counts (meter + the addon's per-thread totals) agree with the pair's end counts.
      const [splicedUp, splicedDown] = takeSplicedBytes();
      assert.is(h.meter.clientToBroker + splicedUp, up.length);
      assert.is(h.meter.brokerToClient + splicedDown, down.length);
    } finally {
      await h.close();
    }
  });

  t('bytes are counted while the pair lives, not only when it ends', async () => {
    const up = randomBytes(3 * MiB);
    const down = randomBytes(2 * MiB);
    const atBroker = deferred<number>();
    let brokerGot = 0;
    const h = await startHarness(forward, {
      onBroker: (s) => {
        s.on('data', (d: Buffer) => { brokerGot += d.length; if (brokerGot === up.length) atBroker.resolve(brokerGot); });
        void sendAll(s, down, false); // no FIN: the pair stays open
      },
    });
    try {
      takeSplicedBytes();
      const c = await openClient(h.port);
      let clientGot = 0;
      c.on('data', (d: Buffer) => { clientGot += d.length; });
      await waitFor(() => h.forwarding() === 1, 'forwarding');
      await sendAll(c, up, false);
      await atBroker.promise;
      await waitFor(() => clientGot === down.length, 'the broker bytes at the client');
      assert.is(h.ends.length, 0, 'the pair is still open');
      const [splicedUp, splicedDown] = takeSplicedBytes();
      assert.is(h.meter.clientToBroker + splicedUp, up.length);
      assert.is(h.meter.brokerToClient + splicedDown, down.length);
      c.destroy();
      h.brokerSockets[0].destroy(); // half-closes pass through: both sides must go for the pair to end
      await h.waitEnds(1);
    } finally {
      await h.close();
    }
  });

  t('bytes Node read from either socket before forward go first, in order, and are counted', async () => {
    const up = randomBytes(4 * MiB);
    const greeting = randomBytes(200 * 1024);
    const atBroker = deferred<Received>();
    const h = await startHarness(forward, {
      preamble: Buffer.from('CONNECT'),
      forwardDelayMs: 100, // the client's first bytes and the broker's greeting wait in Node's buffers
      onBroker: (s) => {
        void receiveAll(s).then(atBroker.resolve);
        s.write(greeting);
        s.once('end', () => s.end());
      },
    });
    try {
      const c = await openClient(h.port);
      const atClient = receiveAll(c);
      await sendAll(c, up, true);
      const [gotC, gotB] = await Promise.all([atClient, atBroker.promise]);
      assert.is(gotB.sha256, sha256(Buffer.concat([Buffer.from('CONNECT'), up])));
      assert.is(gotC.sha256, sha256(greeting));
      await h.waitEnds(1);
      // Both paths count what Node had already buffered before the hand-over.
      assert.is(h.ends[0].bytesClientToBroker, up.length);
      assert.is(h.ends[0].bytesBrokerToClient, greeting.length);
    } finally {
      await h.close();
    }
  });

  t('half-close: the client FIN reaches the broker, which still answers, then closes', async () => {
    const h = await startHarness(forward, {
      onBroker: (s) => {
        let n = 0;
        s.on('data', (d: Buffer) => { n += d.length; });
        s.once('end', () => { setTimeout(() => s.end(`answer:${n}`), 20); });
      },
    });
    try {
      const c = await openClient(h.port);
      await waitFor(() => h.forwarding() === 1, 'forwarding');
      const got: Buffer[] = [];
      c.on('data', (d: Buffer) => got.push(d));
      const atClient = receiveAll(c);
      c.end('question');
      const r = await atClient;
      assert.ok(r.ended);
      assert.is(Buffer.concat(got).toString(), 'answer:8');
      await h.waitEnds(1);
      assert.equal(h.ends[0], { bytesClientToBroker: 8, bytesBrokerToClient: 8, reason: 'client-closed', error: undefined });
    } finally {
      await h.close();
    }
  });

  t('half-close the other way: the broker FIN reaches the client, which keeps sending', async () => {
    const payload = randomBytes(4 * MiB);
    const atBroker = deferred<Received>();
    const h = await startHarness(forward, {
      onBroker: (s) => {
        void receiveAll(s).then(atBroker.resolve);
        s.end('bye');
      },
    });
    try {
      const c = await openClient(h.port);
      const got: Buffer[] = [];
      c.on('data', (d: Buffer) => got.push(d));
      await new Promise<void>((r) => c.once('end', () => r()));
      assert.is(Buffer.concat(got).toString(), 'bye');
      await sendAll(c, payload, true);
      const r = await atBroker.promise;
      assert.is(r.sha256, sha256(payload), 'everything sent after the broker FIN arrived');
      assert.ok(r.ended);
      await h.waitEnds(1);
      assert.is(h.ends[0].reason, 'broker-closed');
      assert.is(h.ends[0].bytesClientToBroker, payload.length);
      assert.is(h.ends[0].bytesBrokerToClient, 3);
    } finally {
      await h.close();
    }
  });

  t('broker reset mid-stream closes the client; ForwardEnd says broker-*', async () => {
    const h = await startHarness(forward, {
      onBroker: (s) => {
        let n = 0;
        s.on('data', (d: Buffer) => { n += d.length; if (n >= MiB && !s.destroyed) s.resetAndDestroy(); });
      },
    });
    try {
      const c = await openClient(h.port);
      c.on('error', () => {});
      await waitFor(() => h.forwarding() === 1, 'forwarding'); // forwardJs counts only what it read itself
      const atClient = receiveAll(c);
      void sendAll(c, randomBytes(16 * MiB), false);
      await atClient;
      await closed(c);
      await h.waitEnds(1);
      assert.match(h.ends[0].reason, /^broker-/);
      assert.ok(h.ends[0].bytesClientToBroker >= MiB);
    } finally {
      await h.close();
    }
  });

  t('client reset closes the broker side; ForwardEnd says client-*', async () => {
    const atBroker = deferred<Received>();
    const h = await startHarness(forward, {
      onBroker: (s) => {
        void receiveAll(s).then(atBroker.resolve);
        s.once('end', () => s.end()); // a broker closes when its client is gone
      },
    });
    try {
      const c = await openClient(h.port);
      await waitFor(() => h.forwarding() === 1, 'forwarding');
      c.write(randomBytes(64 * 1024));
      await waitFor(() => h.brokerSockets[0]?.bytesRead === 64 * 1024, 'bytes at the broker');
      c.resetAndDestroy();
      const r = await atBroker.promise;
      assert.is(r.bytes, 64 * 1024);
      await closed(h.brokerSockets[0]);
      await h.waitEnds(1);
      assert.match(h.ends[0].reason, /^client-/);
      assert.is(h.ends[0].bytesClientToBroker, 64 * 1024);
    } finally {
      await h.close();
    }
  });

  t('slow reader: a paused client stops the broker\'s writes being accepted; nothing is lost after', async () => {
    const chunk = randomBytes(MiB);
    let written = 0;
    let acceptedWhenStalled = -1;
    const brokerDone = deferred<void>();
    const h = await startHarness(forward, {
      onBroker: (s) => {
        void (async () => {
          // Write until the kernel and the proxy stop taking bytes: no 'drain' for a whole second.
          for (let i = 0; i < 256 && acceptedWhenStalled < 0; i++) {
            written++;
            if (s.write(chunk)) continue;
            const drained = await Promise.race([
              new Promise<boolean>((r) => s.once('drain', () => r(true))),
              delay(1000).then(() => false),
            ]);
            if (!drained) acceptedWhenStalled = written * MiB - s.writableLength;
          }
          s.end();
          brokerDone.resolve();
        })();
      },
    });
    try {
      const c = await openClient(h.port);
      c.pause();
      await waitFor(() => acceptedWhenStalled >= 0 || written >= 256, 'the broker to stall', 20_000);
      assert.ok(acceptedWhenStalled > 0, `the broker stalled (wrote ${written} MiB)`);
      // Kernel socket buffers (tcp_rmem max 32 MiB here) + one pipe + Node's high-water marks.
      assert.ok(acceptedWhenStalled < 128 * MiB, `bounded: ${acceptedWhenStalled} bytes accepted`);
      if (forward === forwardSplice && splice) assert.ok(splice.stats().pipesInUse <= 2, 'at most a pipe per direction');
      const atClient = receiveAll(c);
      c.resume();
      await brokerDone.promise;
      const r = await atClient;
      const h256 = createHash('sha256');
      for (let i = 0; i < written; i++) h256.update(chunk);
      assert.is(r.bytes, written * MiB);
      assert.is(r.sha256, h256.digest('hex'));
      c.end();
      await h.waitEnds(1);
      assert.is(h.ends[0].bytesBrokerToClient, written * MiB);
    } finally {
      await h.close();
    }
  });

  t('500 concurrent pairs each echo 64 KiB exactly', async () => {
    const pairs = 500;
    const h = await startHarness(forward, { onBroker: (s) => s.pipe(s) });
    try {
      const clients = await Promise.all(Array.from({ length: pairs }, () => openClient(h.port)));
      await waitFor(() => h.forwarding() === pairs, 'every pair forwarding');
      const results = await Promise.all(clients.map(async (c) => {
        const data = randomBytes(64 * 1024);
        const got = receiveAll(c);
        c.end(data);
        const r = await got;
        return r.ended && r.sha256 === sha256(data);
      }));
      assert.is(results.filter(Boolean).length, pairs);
      await h.waitEnds(pairs);
      assert.is(h.ends.reduce((n, e) => n + e.bytesClientToBroker, 0), pairs * 64 * 1024);
      assert.is(h.ends.reduce((n, e) => n + e.bytesBrokerToClient, 0), pairs * 64 * 1024);
      assert.ok(h.ends.every((e) => e.reason === 'client-closed'));
    } finally {
      await h.close();
    }
  });

  t.run();
}

// The same scenario through both paths must look the same from both ends and in ForwardEnd.
const agree = suite('forwardJs and forwardSplice agree');

async function scenario(forward: ForwardFn, up: Buffer, greeting: Buffer): Promise<{ client: Received; broker: Received; end: ForwardEnd }> {
  const atBroker = deferred<Received>();
  const h = await startHarness(forward, {
    preamble: Buffer.from('CONNECT'),
    onBroker: (s) => {
      void receiveAll(s).then(atBroker.resolve);
      s.write(greeting);
      s.on('data', (d: Buffer) => s.write(d)); // echo, then FIN after the client's
      s.once('end', () => s.end());
    },
  });
  try {
    const c = await openClient(h.port);
    await waitFor(() => h.forwarding() === 1, 'forwarding');
    const atClient = receiveAll(c);
    await sendAll(c, up, true, 100_000);
    const [client, broker] = await Promise.all([atClient, atBroker.promise]);
    await h.waitEnds(1);
    return { client, broker, end: h.ends[0] };
  } finally {
    await h.close();
  }
}

agree('same bytes at both ends, same ForwardEnd', async () => {
  const up = randomBytes(3 * MiB + 17);
  const greeting = randomBytes(1000);
  const js = await scenario(forwardJs, up, greeting);
  const native = await scenario(forwardSplice, up, greeting);
  assert.equal(native, js);
  assert.is(js.broker.sha256, sha256(Buffer.concat([Buffer.from('CONNECT'), up])));
  // The broker echoes everything it gets, the preamble too, after its greeting.
  assert.is(js.client.sha256, sha256(Buffer.concat([greeting, Buffer.from('CONNECT'), up])));
  assert.equal(js.end, { bytesClientToBroker: up.length, bytesBrokerToClient: greeting.length + 7 + up.length, reason: 'client-closed', error: undefined });
});

async function resetScenario(forward: ForwardFn, who: 'client' | 'broker'): Promise<ForwardEnd['reason']> {
  const h = await startHarness(forward, {
    onBroker: (s) => {
      s.on('data', () => { if (who === 'broker' && !s.destroyed) s.resetAndDestroy(); });
      s.once('end', () => s.end());
    },
  });
  try {
    const c = await openClient(h.port);
    c.on('error', () => {});
    await waitFor(() => h.forwarding() === 1, 'forwarding');
    c.write('hello');
    if (who === 'client') {
      await waitFor(() => h.brokerSockets[0]?.bytesRead === 5, 'bytes at the broker');
      c.resetAndDestroy();
    }
    await h.waitEnds(1);
    return h.ends[0].reason;
  } finally {
    await h.close();
  }
}

agree('a reset on either side ends both paths with the same reason', async () => {
  for (const who of ['client', 'broker'] as const) {
    const js = await resetScenario(forwardJs, who);
    const native = await resetScenario(forwardSplice, who);
    assert.is(native, js, who);
    assert.is(js, `${who}-error`, who);
  }
});

agree('the addon is built and loaded here (else forwardSplice fell back to the JS path)', () => {
  assert.ok(spliceAvailable, spliceUnavailableReason);
});

agree.run();
