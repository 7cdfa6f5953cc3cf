// Tests for the lazy walk of src/balance/strategy.ts (first()/next() on a SelectionCursor) in every
// strategy: the same orders as the sort-based code it replaced, one walk per cursor with interleaved
// walks kept apart, snapshots taken at first(), and no allocation on the first candidate.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SelectionCursor, SelectionCursorPool } from '../../src/balance/cursor.ts';
import { buildSelector } from '../../src/balance/index.ts';
import { type BrokerSpec, type BuildContext, type RouteKey, type Selector, type StrategyName, walkAll } from '../../src/balance/strategy.ts';
import { BrokerTable } from '../../src/brokers/broker-table.ts';
import { hashKey } from '../../src/hash.ts';
import { StickyTable } from '../../src/sticky/table.ts';
import { mulberry32 } from '../helpers/random.ts';
import { referenceSelector } from '../helpers/reference-orders.ts';

type Plain = Exclude<StrategyName, 'sticky'>;
const plain: Plain[] = ['random', 'round-robin', 'weighted-round-robin', 'least-connections', 'consistent-hash'];
const keys: RouteKey[] = Array.from({ length: 1_000 }, (_, i) => ({ text: `client-${i}`, hash: hashKey(`client-${i}`) }));

const sets: Record<string, BrokerSpec[]> = {
  'three equal': ['mqtt-a:1883', 'mqtt-b:1883', 'mqtt-c:1883'].map((name) => ({ name, weight: 1 })),
  'five, two drained': [2, 0, 1, 3, 0].map((weight, i) => ({ name: `b${i}`, weight })),
  '32 weighted': Array.from({ length: 32 }, (_, i) => ({ name: `mqtt-${i}.example:1883`, weight: 1 + (i % 4) })),
  '32 equal': Array.from({ length: 32 }, (_, i) => ({ name: `mqtt-${i}.example:1883`, weight: 1 })),
};

/** Live counts with ties, and (for bounded loads) a few brokers far over their share. */
const liveOf = (n: number) => Array.from({ length: n }, (_, i) => (i < Math.max(1, n >> 3) ? 200 : 20 + ((i * 7) % 5)));

/** Twin contexts: same brokers, live counts and random seed, separate state (broker table, draws). */
function twins(brokers: BrokerSpec[], extra: Partial<BuildContext> = {}, live: number[] = []): [BuildContext, BuildContext] {
  const one = (): BuildContext => {
    const brokerTable = new BrokerTable(BrokerTable.allocate(64));
    live.forEach((count, i) => {
      for (let k = 0; k < count; k++) brokerTable.connectionOpened(i);
    });
    return { brokers, brokerTable, random: mulberry32(11), ...extra };
  };
  return [one(), one()];
}

function variants(name: Plain, brokers: BrokerSpec[]): Array<{ label: string; extra: Partial<BuildContext>; live: number[] }> {
  const live = liveOf(brokers.length);
  if (name === 'least-connections') return [{ label: 'with live counts', extra: {}, live }];
  if (name === 'consistent-hash') return [{ label: 'plain', extra: {}, live: [] }, { label: 'bounded loads', extra: { loadBound: 1.25 }, live }];
  return [{ label: '', extra: {}, live: [] }];
}

/** One whole walk by hand, checking the contract on the way: each index once, -1 at the end and after. */
function walk(selector: Selector, key: RouteKey, cursor: SelectionCursor): number[] {
  const order: number[] = [];
  for (let b = selector.first(key, cursor); b >= 0; b = selector.next(key, cursor)) order.push(b);
  assert.is(selector.next(key, cursor), -1, 'exhausted stays exhausted');
  assert.is(selector.next(key, cursor), -1);
  return order;
}

test('every strategy, every broker set: the lazy walk is exactly the sort-based order (first() is its head)', () => {
  for (const name of plain) {
    for (const [setName, brokers] of Object.entries(sets)) {
      for (const { label, extra, live } of variants(name, brokers)) {
        const [lazyCtx, refCtx] = twins(brokers, extra, live);
        const selector = buildSelector(name, lazyCtx);
        const reference = referenceSelector(name, refCtx);
        const cursor = new SelectionCursor();
        for (const key of keys) {
          const expected = reference.candidates(key);
          assert.equal(walk(selector, key, cursor), expected, `${name} ${label} over ${setName}, ${key.text}`);
        }
      }
    }
  }
});

test('candidates() is the whole walk, and first() alone is its head', () => {
  for (const name of plain) {
    const [a, b] = twins(sets['32 weighted'], name === 'consistent-hash' ? { loadBound: 1.25 } : {}, liveOf(32));
    const lazy = buildSelector(name, a);
    const whole = buildSelector(name, b);
    const cursor = new SelectionCursor();
    for (const key of keys.slice(0, 500)) assert.is(lazy.first(key, cursor), whole.candidates(key)[0], `${name} ${key.text}`);
  }
});

test('interleaved walks on one selector (placements awaiting connects) each keep their own order', () => {
  for (const name of plain) {
    for (const [setName, brokers] of Object.entries(sets)) {
      const [lazyCtx, refCtx] = twins(brokers, name === 'consistent-hash' ? { loadBound: 1.25 } : {}, liveOf(brokers.length));
      const selector = buildSelector(name, lazyCtx);
      const reference = referenceSelector(name, refCtx);
      const ca = new SelectionCursor();
      const cb = new SelectionCursor();
      for (let i = 0; i + 1 < 400; i += 2) {
        const [ka, kb] = [keys[i], keys[i + 1]];
        // Walk a starts, then walk b starts (taking its own rotation ticket, draws, pick), then their
        // next() calls alternate: each must still follow the order of its own first().
        const expectA = reference.candidates(ka);
        const expectB = reference.candidates(kb);
        const gotA = [selector.first(ka, ca)];
        const gotB = [selector.first(kb, cb)];
        for (let step = 0; step < brokers.length; step++) {
          gotA.push(selector.next(ka, ca));
          gotB.push(selector.next(kb, cb));
        }
        assert.equal(gotA.filter((x) => x >= 0), expectA, `${name} over ${setName}: walk a`);
        assert.equal(gotB.filter((x) => x >= 0), expectB, `${name} over ${setName}: walk b`);
      }
    }
  }
});

test('a walk follows the state as it was at first(): live counts changing mid-walk do not reorder it', () => {
  for (const name of ['least-connections', 'consistent-hash'] as const) {
    const brokers = sets['32 equal'];
    const [ctx, refCtx] = twins(brokers, name === 'consistent-hash' ? { loadBound: 1.25 } : {}, liveOf(32));
    const selector = buildSelector(name, ctx);
    const reference = referenceSelector(name, refCtx);
    const cursor = new SelectionCursor();
    for (const key of keys.slice(0, 100)) {
      const expected = reference.candidates(key);
      const got = [selector.first(key, cursor)];
      // Meanwhile other placements land on the walk's next candidates.
      for (let k = 0; k < 50; k++) ctx.brokerTable.connectionOpened(expected[1]);
      for (let b = selector.next(key, cursor); b >= 0; b = selector.next(key, cursor)) got.push(b);
      for (let k = 0; k < 50; k++) ctx.brokerTable.connectionClosed(expected[1]);
      assert.equal(got, expected, `${name} ${key.text}`);
    }
  }
});

test('no broker with weight > 0: first() is -1 and so is next(), for every strategy', () => {
  for (const name of [...plain, 'sticky'] as StrategyName[]) {
    for (const weights of [[], [0, 0]]) {
      const selector = buildSelector(name, {
        brokers: weights.map((weight, i) => ({ name: `b${i}`, weight })),
        brokerTable: new BrokerTable(BrokerTable.allocate(8)),
        stickyTable: new StickyTable(StickyTable.allocate(64)),
      });
      const cursor = new SelectionCursor();
      assert.is(selector.first(keys[0], cursor), -1, name);
      assert.is(selector.next(keys[0], cursor), -1, name);
    }
  }
});

test('a cursor grows once for a larger broker set, then is reused as is; the pool hands released cursors back', () => {
  const cursor = new SelectionCursor();
  const scratch = cursor.scores;
  const selector = buildSelector('consistent-hash', { brokers: sets['32 equal'], brokerTable: new BrokerTable(BrokerTable.allocate(64)) });
  assert.equal(walkAll(selector, keys[0], cursor).length, 32);
  assert.ok(cursor.scores !== scratch && cursor.scores.length >= 32, 'grown for 32 brokers');
  const grown = cursor.scores;
  walkAll(selector, keys[1], cursor);
  assert.ok(cursor.scores === grown, 'no second growth');
  const pool = new SelectionCursorPool(2);
  const a = pool.acquire();
  pool.release(a);
  assert.ok(pool.acquire() === a, 'reused');
  pool.release(a);
  pool.release(new SelectionCursor());
  pool.release(new SelectionCursor());
  assert.is(pool.size, 2, 'keeps at most its limit');
});

// ---- allocation ----

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
let minorGcs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minorGcs++;
}).observe({ entryTypes: ['gc'] });
const settle = () => new Promise((r) => setTimeout(r, 20));

/**
 * Bytes of JS heap per call of `place` over `calls` calls, after a warm-up that lets the JIT optimize
 * it; undefined if a young-generation collection ran meanwhile (then allocation is certain). A
 * 16-byte heap number per call would show as >= 16 here, or as collections.
 */
async function bytesPerCall(place: (i: number) => number, calls: number): Promise<number | undefined> {
  let sink = 0;
  for (let i = 0; i < 300_000; i++) sink += place(i);
  gc();
  await settle();
  const before = minorGcs;
  const heapBefore = process.memoryUsage().heapUsed;
  for (let i = 0; i < calls; i++) sink += place(i);
  const heapAfter = process.memoryUsage().heapUsed;
  await settle();
  if (sink === 0.5) console.log('unreachable');
  return minorGcs === before ? (heapAfter - heapBefore) / calls : undefined;
}

test('the first candidate allocates nothing, for every strategy (default random source and clock), 3 and 32 brokers', async () => {
  const hot: RouteKey[] = Array.from({ length: 1024 }, (_, i) => ({ text: `hot-${i}`, hash: hashKey(`hot-${i}`) }));
  for (const name of [...plain, 'sticky', 'sticky-new-keys'] as const) {
    for (const n of [3, 32]) {
      const brokerTable = new BrokerTable(BrokerTable.allocate(64));
      for (let i = 0; i < n; i++) for (let k = 0; k < 10 + i; k++) brokerTable.connectionOpened(i);
      const brokers = Array.from({ length: n }, (_, i) => ({ name: `mqtt-${i}:1883`, weight: 1 + (i % 3) }));
      const strategy: StrategyName = name === 'sticky-new-keys' ? 'sticky' : name;
      const selector = buildSelector(strategy, { brokers, brokerTable, stickyTable: new StickyTable(StickyTable.allocate(1 << 21)), loadBound: 1.25 });
      const cursor = new SelectionCursor();
      let place: (i: number) => number;
      if (name === 'sticky-new-keys') {
        // Every placement a new key: lookup miss, fallback's first choice, claim (a table insert).
        const fresh = Array.from({ length: 500_000 }, (_, i) => ({ text: `new-${n}-${i}`, hash: hashKey(`new-${n}-${i}`) }));
        place = (i) => selector.first(fresh[i], cursor);
      } else {
        if (name === 'sticky') for (const k of hot) selector.placed?.(k, selector.candidates(k)[0]); // every first() a hit
        place = (i) => selector.first(hot[i & 1023], cursor);
      }
      // The least of three measurements: a compile or a deopt on a loaded machine can allocate during one
      // of them; an allocating first() allocates in all three.
      let perCall: number | undefined;
      for (let attempt = 0; attempt < 3 && !(perCall !== undefined && perCall < 1); attempt++) {
        const measured = await bytesPerCall(place, 100_000);
        if (measured !== undefined) perCall = Math.min(perCall ?? Infinity, measured);
      }
      assert.ok(perCall !== undefined && perCall < 1, `${name} over ${n} brokers: ${perCall === undefined ? 'collections ran' : `${perCall.toFixed(2)} B`} per first()`);
    }
  }
});

test.run();
