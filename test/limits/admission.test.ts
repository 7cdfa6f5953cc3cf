// Unit tests: the shared connection cap and token bucket.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Admission } from '../../src/limits/admission.ts';

test('max connections counts admitted clients; a refusal holds nothing; release frees a slot', () => {
  const a = new Admission(Admission.allocate(), { maxConnections: 2, maxPendingPerWorker: 10, connectRatePerSec: 0, connectBurst: 1 }, 0);
  a.init(0);
  assert.is(a.admit(0), 'ok');
  assert.is(a.admit(0), 'ok');
  assert.is(a.admit(0), 'max-connections');
  assert.is(a.openClients(), 2, 'the refused client holds no slot');
  a.release();
  assert.is(a.openClients(), 1);
  assert.is(a.admit(0), 'ok');
  assert.is(a.admit(0), 'max-connections');
});

test('token bucket keeps limiting after 24.8 days of uptime (ms since start no longer fit an Int32)', () => {
  const day = 86_400_000;
  for (const uptimeDays of [1, 25, 60, 400]) {
    const a = new Admission(Admission.allocate(), { maxConnections: 1000, maxPendingPerWorker: 10, connectRatePerSec: 1, connectBurst: 1 }, 0);
    a.init(0);
    const t = uptimeDays * day;
    // Regular traffic up to t, so the last refill time is recent.
    for (let ms = t - 10_000; ms < t; ms += 1000) { if (a.admit(ms) === 'ok') a.release(); }
    const verdicts = [1, 2, 3, 4, 5].map(() => { const v = a.admit(t); if (v === 'ok') a.release(); return v; });
    assert.equal(verdicts, ['ok', 'connect-rate', 'connect-rate', 'connect-rate', 'connect-rate'], `uptime ${uptimeDays} days`);
  }
});

test('pending clients have their own bound per worker, apart from max_connections', async () => {
  const { WorkerShares } = await import('../../src/limits/worker-shares.ts');
  const shares = new WorkerShares(WorkerShares.allocate(4));
  const sab = Admission.allocate();
  const limits = { maxConnections: 1, maxPendingPerWorker: 2, connectRatePerSec: 0, connectBurst: 1 };
  const a = new Admission(sab, limits, 0, shares.slot(1));
  const other = new Admission(sab, limits, 0, shares.slot(2));
  a.init(0);
  assert.is(other.pendingStarted(), true, 'another worker\'s pending clients do not use this worker\'s part');
  assert.is(other.pendingStarted(), true);
  assert.is(a.pendingStarted(), true);
  assert.is(a.pendingStarted(), true);
  assert.is(a.pendingStarted(), false, 'the third pending client is over max_pending');
  assert.is(a.pendingClients(), 5, 'counted (all workers) until the caller ends it');
  a.pendingEnded();
  assert.is(a.admit(0), 'ok', 'pending clients never take admitted room');
  assert.is(a.pendingClients(), 4);
});

test('worker shares: a dead worker\'s pending, admitted and live counts are released exactly', async () => {
  const { WorkerShares } = await import('../../src/limits/worker-shares.ts');
  const { BrokerTable } = await import('../../src/brokers/broker-table.ts');
  const limits = { maxConnections: 100, maxPendingPerWorker: 100, connectRatePerSec: 0, connectBurst: 1 };
  const sab = Admission.allocate();
  const brokersSab = BrokerTable.allocate(4);
  const shares = new WorkerShares(WorkerShares.allocate(4));
  const primary = new Admission(sab, limits, 0);
  const primaryBrokers = new BrokerTable(brokersSab);
  const [w1, w2] = [1, 2].map((id) => ({ admission: new Admission(sab, limits, 0, shares.slot(id)), brokers: new BrokerTable(brokersSab, shares.slot(id)) }));
  // Worker 1: 3 pending (one ends), 2 admitted on broker 0 and 1 on broker 3; worker 2: 1 pending, 1 admitted on broker 0.
  for (let i = 0; i < 3; i++) w1.admission.pendingStarted();
  w1.admission.pendingEnded();
  for (const b of [0, 0, 3]) { w1.admission.admit(0); w1.brokers.connectionOpened(b); }
  w2.admission.pendingStarted();
  w2.admission.admit(0);
  w2.brokers.connectionOpened(0);
  assert.equal([primary.pendingClients(), primary.openClients(), primaryBrokers.liveConnections(0), primaryBrokers.liveConnections(3)], [3, 4, 3, 1]);
  const taken = shares.take(1);
  assert.equal([taken.pending, taken.admitted, taken.live.slice(0, 4)], [2, 3, [2, 0, 0, 1]]);
  primary.releaseShare(taken);
  primaryBrokers.releaseShare(taken.live);
  assert.equal([primary.pendingClients(), primary.openClients(), primaryBrokers.liveConnections(0), primaryBrokers.liveConnections(3)], [1, 1, 1, 0]);
  assert.equal(shares.take(1).live.slice(0, 4), [0, 0, 0, 0], 'the slot is zeroed for the replacement');
});

test('token bucket: burst, then refills at the rate, fractional refills accumulate', () => {
  const a = new Admission(Admission.allocate(), { maxConnections: 1000, maxPendingPerWorker: 10, connectRatePerSec: 2, connectBurst: 3 }, 1000);
  a.init(1000);
  const verdicts = [1000, 1000, 1000, 1000].map((t) => { const v = a.admit(t); a.release(); return v; });
  assert.equal(verdicts, ['ok', 'ok', 'ok', 'connect-rate']);
  // 2 tokens/s: 250 ms gives half a token (refused), 500 ms in total gives one.
  assert.is(a.admit(1250), 'connect-rate'); a.release();
  assert.is(a.admit(1500), 'ok'); a.release();
  assert.is(a.admit(1500), 'connect-rate'); a.release();
  // A long pause refills only up to the burst.
  assert.equal([1, 2, 3, 4].map(() => { const v = a.admit(100_000); a.release(); return v; }), ['ok', 'ok', 'ok', 'connect-rate']);
});

test.run();
