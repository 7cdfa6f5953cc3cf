// File descriptors under churn: 10k spliced pairs open and close (cleanly and by reset), and the process
// ends with as many fds open as before; the pipe pool stays within its bound meanwhile.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { forwardSplice } from '../../workers/forward-splice.ts';
import { splice } from '../../workers/splice-addon.ts';
import { startHarness, openClient, receiveAll, waitFor, fdCount, type Harness } from './harness.ts';

const batchPairs = 250;
const batches = 40; // 10,000 pairs
const payload = randomBytes(16 * 1024);

/** A batch of pairs: each client sends the payload and reads the echo; then either ends (FIN both ways)
 *  or resets. Returns how many clients got their echo back intact. */
async function runBatch(h: Harness, mode: 'end' | 'reset'): Promise<number> {
  const clients = await Promise.all(Array.from({ length: batchPairs }, () => openClient(h.port)));
  const ok = await Promise.all(clients.map(async (c: Socket) => {
    c.on('error', () => {});
    let got = 0;
    const echoed = new Promise<void>((resolve) => {
      c.on('data', (d: Buffer) => { got += d.length; if (got >= payload.length) resolve(); });
      c.once('close', () => resolve());
    });
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    if (mode === 'end') {
      const r = receiveAll(c);
      c.end(payload);
      await r;
    } else {
      c.write(payload);
      await echoed;
      c.resetAndDestroy();
    }
    await closed;
    return got === payload.length;
  }));
  return ok.filter(Boolean).length;
}

test('10k pairs open and close in batches: fd count returns to baseline, pool stays bounded', async () => {
  assert.ok(splice, 'the addon is loaded');
  const h = await startHarness(forwardSplice, {
    onBroker: (s) => {
      s.pipe(s); // echo, and FIN after the client's
      s.once('close', () => s.destroy());
    },
  });
  try {
    // Warm-up: whatever Node opens lazily on first use is part of the baseline.
    assert.is(await runBatch(h, 'end'), batchPairs);
    await h.waitEnds(batchPairs);
    await waitFor(() => h.brokerSockets.every((s) => s.closed), 'broker sockets closed');
    splice!.drainPool();
    const baseline = fdCount();

    let echoed = 0;
    for (let i = 0; i < batches; i++) {
      echoed += await runBatch(h, i % 4 === 3 ? 'reset' : 'end');
      const st = splice!.stats();
      assert.ok(st.pipesPooled <= st.poolMax, `pool within bound: ${st.pipesPooled} <= ${st.poolMax}`);
    }
    assert.is(echoed, batches * batchPairs, 'every pair echoed its payload');
    await h.waitEnds((batches + 1) * batchPairs);
    await waitFor(() => h.brokerSockets.every((s) => s.closed), 'broker sockets closed');
    const st = splice!.stats();
    assert.is(st.pairs, 0);
    assert.is(st.pipesInUse, 0);
    splice!.drainPool();
    assert.is(fdCount(), baseline, 'fds back to baseline');
    const reasons = new Set(h.ends.map((e) => e.reason));
    assert.ok(reasons.has('client-closed') && reasons.has('client-error'), [...reasons].join());
  } finally {
    await h.close();
  }
});

test.run();
