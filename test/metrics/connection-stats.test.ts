// ConnectionStats / ConnectionTotals: per-listener counts folded from every worker's slot; a dead
// worker's open connections become dropped_worker_exit of their listener; a reused listener slot starts
// from zero; the CONNECT-phase histogram is cumulative.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConnectionStats, ConnectionTotals, kConnectBucketsSec } from '../../src/metrics/connection-stats.ts';

test('two workers, two listeners: exact totals and open counts', () => {
  const sab = ConnectionStats.allocate(4);
  const [w1, w2] = [new ConnectionStats(sab, 1), new ConnectionStats(sab, 2)];
  const totals = new ConnectionTotals(sab);
  for (let i = 0; i < 5; i++) w1.accepted(0);
  for (let i = 0; i < 3; i++) w2.accepted(0);
  w2.accepted(7);
  w1.forwarded(0, 2);
  w1.ended(0, 'connections_closed');
  w1.ended(0, 'refused_not_connect');
  w2.ended(0, 'client_closed_before_connect');
  const t = totals.listener(0);
  assert.equal([t.accepted, t.forwarded, t.ends.connections_closed, t.ends.refused_not_connect, t.ends.client_closed_before_connect, t.active], [8, 1, 1, 1, 1, 5]);
  assert.equal([totals.listener(7).accepted, totals.listener(7).active], [1, 1]);
});

test("a dead worker's open connections are dropped per listener; its replacement counts from zero", () => {
  const sab = ConnectionStats.allocate(4);
  const totals = new ConnectionTotals(sab);
  const w1 = new ConnectionStats(sab, 1);
  for (let i = 0; i < 4; i++) w1.accepted(2);
  w1.ended(2, 'connections_closed');
  w1.accepted(3);
  totals.retire(1);
  assert.equal([totals.listener(2).ends.dropped_worker_exit, totals.listener(2).active], [3, 0]);
  assert.equal([totals.listener(3).ends.dropped_worker_exit, totals.listener(3).active], [1, 0]);
  const again = new ConnectionStats(sab, 1);
  again.accepted(2);
  assert.equal([totals.listener(2).accepted, totals.listener(2).active], [5, 1]);
  again.refusedBeforeAccept(2, 'tls_handshake_failed');
  assert.is(totals.listener(2).refusedBeforeAccept.tls_handshake_failed, 1);
  totals.resetListener(2);
  const reset = totals.listener(2);
  assert.equal([reset.accepted, reset.forwarded, reset.active, reset.ends.dropped_worker_exit, reset.refusedBeforeAccept.tls_handshake_failed], [0, 0, 0, 0, 0]);
});

test('the histogram: cumulative buckets, +Inf last, count and sum', () => {
  const sab = ConnectionStats.allocate(2);
  const w = new ConnectionStats(sab, 1);
  for (const ms of [0.2, 0.2, 3, 40, 20_000]) w.forwarded(0, ms);
  const h = new ConnectionTotals(sab).histogram();
  assert.is(h.buckets.length, kConnectBucketsSec.length + 1);
  assert.is(h.buckets[0], 2, 'two under 0.5 ms');
  assert.is(h.buckets[kConnectBucketsSec.indexOf(0.005)], 3);
  assert.is(h.buckets[kConnectBucketsSec.indexOf(0.05)], 4);
  assert.is(h.buckets[kConnectBucketsSec.length - 1], 4, 'none more within 10 s');
  assert.is(h.buckets[kConnectBucketsSec.length], 5, '+Inf holds all');
  assert.is(h.count, 5);
  assert.ok(Math.abs(h.sumSec - 20.0434) < 1e-6, `sum ${h.sumSec}`);
});

test.run();
