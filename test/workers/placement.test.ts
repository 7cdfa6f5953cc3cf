// Unit tests for workers/placement.ts without sockets: the route key, candidates in the selector's
// order minus unhealthy and draining brokers, failures counted, the pin recorded only once placed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PlacementAttempt } from '../../workers/placement.ts';
import type { WorkerContext } from '../../workers/worker-context.ts';
import { BrokerTable } from '../../src/brokers/broker-table.ts';
import type { RouteKey, Selector } from '../../src/balance/strategy.ts';
import type { ConnectInfo } from '../../src/mqtt/connect.ts';
import type { SelectionCursor } from '../../src/balance/cursor.ts';
import { stickyNowSec } from '../../src/sticky/clock.ts';

const connect = (clientId: string, username?: string): ConnectInfo => ({ protocolName: 'MQTT', protocolLevel: 4, clientId, username, hasPassword: false, cleanStart: true, keepaliveSec: 30 });

function fakeContext(order: number[]) {
  const brokerTable = new BrokerTable(BrokerTable.allocate(8));
  const seen = { keys: [] as string[], placed: [] as [string, number][], counted: [] as string[], warned: [] as unknown[] };
  // A selector that walks `order` (the cursor's `offered` is its position), as the real ones do lazily.
  const selector: Selector = {
    candidates: () => [...order],
    first: (key: RouteKey, cursor: SelectionCursor) => { seen.keys.push(key.text); cursor.offered = 0; return order[0] ?? -1; },
    next: (_key: RouteKey, cursor: SelectionCursor) => order[++cursor.offered] ?? -1,
    placed: (key: RouteKey, broker: number) => { seen.placed.push([key.text, broker]); },
  };
  const ctx = {
    workerId: 1,
    config: { balance: { key: ['client-id', 'username', 'source-address'] }, brokers: Array.from({ length: 8 }, (_, i) => ({ name: `b${i}`, address: `127.0.0.1:${2000 + i}`, slowStartMs: i === 1 ? 60_000 : 0 })) },
    brokerTable,
    selector,
    counters: { add: (name: string) => seen.counted.push(name) },
    faultLog: { warn: (...args: unknown[]) => seen.warned.push(args) },
  } as unknown as WorkerContext;
  return { ctx, brokerTable, seen };
}

test('candidates come in the selector order, skipping unhealthy and draining brokers; then -1', () => {
  const { ctx, brokerTable, seen } = fakeContext([2, 0, 3, 1]);
  brokerTable.setHealthy(0, false);
  brokerTable.setDraining(3, true);
  const a = new PlacementAttempt(ctx, 7, connect('dev-1'), (): string | undefined => { assert.unreachable('the address is not needed'); return undefined; });
  assert.equal([a.next(), a.next(), a.next(), a.next()], [2, 1, -1, -1]);
  assert.is(a.broker, -1);
  assert.equal(seen.keys, ['c:dev-1']);
  assert.ok(a.pinned);
});

test('a failure is counted and logged with the broker; the pin follows the broker that answered', () => {
  const { ctx, seen } = fakeContext([1, 0]);
  const a = new PlacementAttempt(ctx, 1, connect('dev-2'), () => undefined);
  a.next();
  a.failed('ECONNREFUSED');
  assert.equal(seen.counted, ['broker_connect_failures']);
  assert.match(JSON.stringify(seen.warned), /ECONNREFUSED/);
  assert.match(JSON.stringify(seen.warned), /b1/);
  assert.is(a.next(), 0);
  assert.equal(seen.placed, []);
  a.placed();
  assert.equal(seen.placed, [['c:dev-2', 0]]);
});

test('empty client id: the user name, then the source address (asked for only then) is the key', () => {
  const { ctx, seen } = fakeContext([0]);
  new PlacementAttempt(ctx, 1, connect('', 'alice'), (): string | undefined => { assert.unreachable('not needed'); return undefined; }).next();
  let asked = 0;
  new PlacementAttempt(ctx, 2, connect(''), () => { asked++; return '10.1.2.3'; }).next();
  assert.equal(seen.keys, ['u:alice', 'a:10.1.2.3']);
  assert.is(asked, 1);
});

test('no key at all: a one-off key, and nothing is pinned', () => {
  const { ctx, seen } = fakeContext([0]);
  const a = new PlacementAttempt(ctx, 42, connect(''), () => undefined);
  assert.not.ok(a.pinned);
  a.next();
  a.placed();
  assert.equal(seen.placed, []);
  assert.equal(seen.keys, ['conn:42']);
});

test('slow start: a broker that just came up is skipped for new clients, yet is the last resort; after its ramp it is offered again', () => {
  const { ctx, brokerTable } = fakeContext([1, 0]);
  brokerTable.markUp(1, stickyNowSec()); // b1: slow_start 60 s, up just now: its share is 0
  const a = new PlacementAttempt(ctx, 1, connect('ramp-1'), () => undefined);
  assert.is(a.next(), 0, 'b1 skipped');
  a.failed('ECONNREFUSED');
  assert.is(a.next(), 1, 'b0 failed: b1 is better than nothing');
  assert.is(a.next(), -1);
  brokerTable.markUp(1, stickyNowSec() - 120); // came up two minutes ago: ramp over
  assert.is(new PlacementAttempt(ctx, 2, connect('ramp-2'), () => undefined).next(), 1);
  brokerTable.markUp(1, stickyNowSec() - 30); // half way: about half the new clients
  let onB1 = 0;
  for (let i = 0; i < 400; i++) if (new PlacementAttempt(ctx, 10 + i, connect(`ramp-n${i}`), () => undefined).next() === 1) onB1++;
  assert.ok(onB1 > 120 && onB1 < 280, `${onB1} of 400 on b1 half way through its ramp`);
});

test.run();
