// End to end: the POST /debug/gc test hook (SLUICE_TEST_HOOKS=1) runs a full GC in the primary and in
// every worker thread and answers each thread's V8 heap in use; the bench reads it per idle connection.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startEchoBroker, type EchoBroker } from '../helpers/echo-broker.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import type { HeapAfterGc } from '../../src/primary/supervisor.ts';

let broker: EchoBroker;
let sluice: SluiceProcess;

test.before(async () => {
  broker = await startEchoBroker();
  sluice = await startSluice({
    workers: 2,
    brokers: [{ name: 'a', address: `127.0.0.1:${broker.port}` }],
    log: { level: 'warn' },
  }, { env: { SLUICE_TEST_HOOKS: '1' } });
});

test.after(async () => {
  await sluice?.stop();
  await broker?.close();
});

test('POST /debug/gc answers the heap after a full GC of the primary and of each worker', async () => {
  const a = await sluice.admin<HeapAfterGc>('/debug/gc', { method: 'POST' });
  assert.is(a.status, 200);
  assert.equal(a.body.workers.map((w) => w.id), [1, 2]);
  for (const bytes of [a.body.primary, ...a.body.workers.map((w) => w.usedHeapBytes)]) {
    assert.ok(bytes > 1 << 20 && bytes < 1 << 30, `heap ${bytes} B`);
  }
  assert.is(a.body.total, a.body.primary + a.body.workers[0].usedHeapBytes + a.body.workers[1].usedHeapBytes);
  // Nothing happens in between: a second reading after GC is within a few MiB of the first.
  const b = await sluice.admin<HeapAfterGc>('/debug/gc', { method: 'POST' });
  assert.is(b.status, 200);
  assert.ok(Math.abs(b.body.total - a.body.total) < 8 << 20, `${a.body.total} -> ${b.body.total}`);
  assert.is((await sluice.admin('/debug/gc')).status, 405, 'POST only');
  assert.is((await sluice.admin('/healthz')).status, 200);
});

test.run();
