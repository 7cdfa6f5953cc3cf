// Tests for src/balance/sticky.ts: the sticky table in front of consistent hashing (or another strategy).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConsistentHashSelector } from '../../src/balance/consistent-hash.ts';
import { buildSelector } from '../../src/balance/index.ts';
import type { BrokerSpec, BuildContext, RouteKey } from '../../src/balance/strategy.ts';
import { StickySelector } from '../../src/balance/sticky.ts';
import { BrokerTable } from '../../src/brokers/broker-table.ts';
import { hashKey } from '../../src/hash.ts';
import { StickyTable } from '../../src/sticky/table.ts';
import { SelectionCursor } from '../../src/balance/cursor.ts';
import type { Selector } from '../../src/balance/strategy.ts';
import { kKindMask, kKindPublished } from '../../src/sticky/layout.ts';
import { writePendingClaim } from '../helpers/sticky-claims.ts';

// Placement must never wait on a worker thread: any Atomics.wait in this file's code paths fails the test.
Atomics.wait = () => {
  throw new Error('Atomics.wait called on a placement path');
};

/** A fallback with a fixed order that counts how often it is asked. */
class CountingFallback implements Selector {
  firsts = 0;
  nexts = 0;
  readonly #order: number[];
  constructor(order: number[]) {
    this.#order = order;
  }
  first(_key: RouteKey, cursor: SelectionCursor): number {
    this.firsts++;
    cursor.offered = 1;
    return this.#order[0] ?? -1;
  }
  next(_key: RouteKey, cursor: SelectionCursor): number {
    this.nexts++;
    return cursor.offered < this.#order.length ? this.#order[cursor.offered++] : -1;
  }
  candidates(): number[] {
    return [...this.#order];
  }
}

/** Walk the rest of a walk begun with first(). */
function rest(selector: Selector, key: RouteKey, cursor: SelectionCursor): number[] {
  const out: number[] = [];
  for (let b = selector.next(key, cursor); b >= 0; b = selector.next(key, cursor)) out.push(b);
  return out;
}

const keys: RouteKey[] = Array.from({ length: 10_000 }, (_, i) => ({ text: `client-${i}`, hash: hashKey(`client-${i}`) }));
const spec = (names: string[], weights?: number[]): BrokerSpec[] => names.map((name, i) => ({ name, weight: weights?.[i] ?? 1 }));

/** One Sluice: shared tables, a clock the test moves, and selectors built over any broker set. */
function world(capacity = 65_536) {
  const clock = { now: 1_000 };
  const brokerTable = new BrokerTable(BrokerTable.allocate(16));
  const sab = StickyTable.allocate(capacity);
  const stickyTable = new StickyTable(sab);
  const ctx = (brokers: BrokerSpec[], extra: Partial<BuildContext> = {}): BuildContext => ({
    brokers,
    brokerTable,
    stickyTable,
    stickyTtlSec: 600,
    nowSec: () => clock.now,
    ...extra,
  });
  const sticky = (brokers: BrokerSpec[], extra: Partial<BuildContext> = {}) => buildSelector('sticky', ctx(brokers, extra)) as StickySelector;
  return { clock, brokerTable, stickyTable, sab, ctx, sticky };
}

/** What a worker does: first candidate it can use (here: all), then placed(). */
function connect(selector: StickySelector, key: RouteKey, usable: (b: number) => boolean = () => true): number {
  const broker = selector.candidates(key).find(usable)!;
  selector.placed(key, broker);
  return broker;
}

test('no pin: the consistent-hash order; after placed(), the pinned broker comes first', () => {
  const w = world();
  const brokers = spec(['a', 'b', 'c']);
  const selector = w.sticky(brokers);
  const hash = new ConsistentHashSelector(w.ctx(brokers));
  const k = keys[0];
  assert.equal(selector.candidates(k), hash.candidates(k));
  const other = hash.candidates(k)[2]; // pretend the first two were down
  selector.placed(k, other);
  assert.equal(selector.candidates(k), [other, ...hash.candidates(k).filter((b) => b !== other)]);
  assert.equal(selector.stats(), { hits: 1, misses: 1, stale: 0, unrecorded: 0 });
});

test('a key stays on its pinned broker after the broker set changes and hashing would move it', () => {
  const w = world();
  const three = spec(['a', 'b', 'c']);
  const before = w.sticky(three);
  const placedOn = keys.map((k) => connect(before, k));
  const four = spec(['a', 'b', 'c', 'd']); // d takes slot 3; a, b, c keep theirs
  const after = w.sticky(four);
  const hashNow = new ConsistentHashSelector(w.ctx(four));
  let wouldMove = 0;
  keys.forEach((k, i) => {
    if (hashNow.candidates(k)[0] !== placedOn[i]) wouldMove++;
    assert.is(after.candidates(k)[0], placedOn[i], `${k.text} left its pin`);
  });
  assert.ok(wouldMove > 2_000, `hashing alone would have moved ${wouldMove} keys`);
  // New clients do use the new broker.
  const fresh = Array.from({ length: 1_000 }, (_, i) => ({ text: `new-${i}`, hash: hashKey(`new-${i}`) }));
  assert.ok(fresh.filter((k) => connect(after, k) === 3).length > 150);
});

test("home(): the key's consistent-hash place, whatever its pin says; what a rebalance moves keys to", () => {
  const w = world();
  const four = spec(['a', 'b', 'c', 'd']);
  const selector = w.sticky(four);
  const hash = new ConsistentHashSelector(w.ctx(four));
  const cursor = new SelectionCursor();
  let homedOnD = 0;
  for (const k of keys.slice(0, 2_000)) {
    const home = hash.candidates(k)[0];
    selector.placed(k, (home + 1) % 4); // pinned elsewhere
    assert.is(selector.home(k, cursor), home, k.text);
    assert.is(hash.home(k, cursor), home);
    if (home === 3) homedOnD++;
  }
  assert.ok(homedOnD > 400 && homedOnD < 600, `a quarter of the keys are homed on d: ${homedOnD}`);
  // A fallback without fixed places gives none.
  assert.is(w.sticky(four, { stickyFallback: 'round-robin' }).home(keys[0], cursor), -1);
});

test('a generation bump (slot given to another broker) invalidates its pins at once', () => {
  const w = world();
  const brokers = spec(['a', 'b', 'c']);
  const selector = w.sticky(brokers);
  const hash = new ConsistentHashSelector(w.ctx(brokers));
  // Pin everything to broker 1, against the hash order.
  for (const k of keys.slice(0, 1_000)) selector.placed(k, 1);
  for (const k of keys.slice(0, 1_000)) assert.is(selector.candidates(k)[0], 1);
  w.brokerTable.bumpGeneration(1);
  for (const k of keys.slice(0, 1_000)) assert.equal(selector.candidates(k), hash.candidates(k));
  assert.is(selector.stats().stale, 1_000);
  // Placing again pins under the new generation ('updated'), and the pin holds again.
  for (const k of keys.slice(0, 1_000)) selector.placed(k, 1);
  for (const k of keys.slice(0, 1_000)) assert.is(selector.candidates(k)[0], 1);
});

test('a drained (weight 0) or removed broker is never offered, pinned or not', () => {
  const w = world();
  const selector = w.sticky(spec(['a', 'b', 'c']));
  for (const k of keys.slice(0, 100)) selector.placed(k, 2);
  const drained = w.sticky(spec(['a', 'b', 'c'], [1, 1, 0]));
  const removed = w.sticky(spec(['a', 'b']));
  for (const k of keys.slice(0, 100)) {
    assert.equal([...drained.candidates(k)].sort(), [0, 1]);
    assert.equal([...removed.candidates(k)].sort(), [0, 1]);
  }
});

test('pinned broker unusable: the client is re-placed and the pin moves with it', () => {
  const w = world();
  const selector = w.sticky(spec(['a', 'b', 'c']));
  const k = keys[1];
  const first = connect(selector, k);
  const second = connect(selector, k, (b) => b !== first); // first is down now
  assert.is.not(second, first);
  assert.is(selector.candidates(k)[0], second, 'the pin followed the client');
  assert.is(w.stickyTable.size(), 1);
});

test('TTL: a pin expires ttl after the last connection ended (released), not after it began', () => {
  const w = world();
  const selector = w.sticky(spec(['a', 'b', 'c']));
  const k = keys[2];
  const other = (new ConsistentHashSelector(w.ctx(spec(['a', 'b', 'c']))).candidates(k)[1]);
  selector.placed(k, other); // pinned away from the hash choice, so expiry is visible
  w.clock.now += 3_000; // a long connection: the pin's own TTL has run out meanwhile
  selector.released(k, other);
  w.clock.now += 599;
  assert.is(selector.candidates(k)[0], other, 'still pinned 599 s after the disconnect');
  w.clock.now += 2;
  assert.is.not(selector.candidates(k)[0], other, 'expired 601 s after');
});

test('released() re-pins a client whose pin was swept while it was connected', () => {
  const w = world(1_024);
  const selector = w.sticky(spec(['a', 'b', 'c']));
  const k = keys[3];
  const other = new ConsistentHashSelector(w.ctx(spec(['a', 'b', 'c']))).candidates(k)[1];
  selector.placed(k, other);
  w.clock.now += 3_000;
  assert.is(w.stickyTable.sweep(1_024, w.clock.now, 600), 1);
  selector.released(k, other);
  assert.is(selector.candidates(k)[0], other);
});

test('a full sticky table never fails a placement: hash order, counted as unrecorded', () => {
  const w = world(16); // one probe window in all
  const selector = w.sticky(spec(['a', 'b', 'c']));
  const hash = new ConsistentHashSelector(w.ctx(spec(['a', 'b', 'c'])));
  for (const k of keys.slice(0, 100)) {
    assert.equal(selector.candidates(k), hash.candidates(k));
    selector.placed(k, selector.candidates(k)[0]);
  }
  assert.is(w.stickyTable.size(), 16);
  assert.is(selector.stats().unrecorded, 84);
  // The table counts every refused insert: each candidates() of a new key tries to claim a pin first
  // (called twice per key here), and placed() tries once more.
  assert.is(w.stickyTable.stats().full, 84 * 3);
});

test('first placements of one key agree before anyone connects: a later claim follows the first pin', () => {
  const w = world();
  const a = w.sticky(spec(['a', 'b', 'c']));
  const b = w.sticky(spec(['a', 'b', 'c'])); // a second worker's selector on the same shared table
  const k = keys[5];
  const first = a.candidates(k)[0]; // claims the pin
  // Worker b's fallback order may differ (bounded loads): simulate it by pinning through the table
  // only, then check b follows a's pin rather than its own first choice.
  const order = b.candidates(k);
  assert.is(order[0], first);
  assert.is(w.stickyTable.lookup(k.hash, w.clock.now, 600)?.broker, first);
  // A claim never overwrites a live pin to another broker; placed() (a real placement) does.
  const other = order[1];
  assert.is(w.stickyTable.record(k.hash, other, 0, w.clock.now, 600, true), 'existing');
  assert.is(w.stickyTable.lookup(k.hash, w.clock.now, 600)?.broker, first);
  b.placed(k, other);
  assert.is(w.stickyTable.lookup(k.hash, w.clock.now, 600)?.broker, other);
});

test('another fallback strategy behind the table: round-robin', () => {
  const w = world();
  const selector = w.sticky(spec(['a', 'b', 'c']), { stickyFallback: 'round-robin' });
  const firsts = keys.slice(0, 6).map((k) => connect(selector, k));
  assert.equal(firsts, [0, 1, 2, 0, 1, 2]);
  for (const [i, k] of keys.slice(0, 6).entries()) assert.is(selector.candidates(k)[0], firsts[i]);
});

test('a valid pin is the first candidate without asking the fallback; next() starts the fallback walk without the pin', () => {
  const w = world();
  const fallback = new CountingFallback([2, 0, 1]);
  const selector = new StickySelector(w.ctx(spec(['a', 'b', 'c'])), fallback);
  const k = keys[6];
  w.stickyTable.record(k.hash, 1, 0, w.clock.now, 600);
  const cursor = new SelectionCursor();
  for (let n = 0; n < 100; n++) assert.is(selector.first(k, cursor), 1);
  assert.equal([fallback.firsts, fallback.nexts], [0, 0], 'a hit never computes the fallback order');
  assert.equal(rest(selector, k, cursor), [2, 0]);
  assert.equal([fallback.firsts, fallback.nexts], [1, 3], 'asked only once the pin was passed over');
  assert.equal(selector.stats(), { hits: 100, misses: 0, stale: 0, unrecorded: 0 });
});

test('a new key: the fallback is asked for its first choice only, and that choice is claimed', () => {
  const w = world();
  const fallback = new CountingFallback([2, 0, 1]);
  const selector = new StickySelector(w.ctx(spec(['a', 'b', 'c'])), fallback);
  const k = keys[7];
  const cursor = new SelectionCursor();
  assert.is(selector.first(k, cursor), 2);
  assert.equal([fallback.firsts, fallback.nexts], [1, 0]);
  assert.equal(w.stickyTable.lookup(k.hash, w.clock.now, 600), { broker: 2, generation: 0 }, 'pinned before any connect');
  assert.equal(rest(selector, k, cursor), [0, 1], 'the rest is the fallback order');
});

test('a stale pin: the fallback order, no claim', () => {
  const w = world();
  const fallback = new CountingFallback([2, 0, 1]);
  const selector = new StickySelector(w.ctx(spec(['a', 'b', 'c'])), fallback);
  const k = keys[8];
  w.stickyTable.record(k.hash, 1, 0, w.clock.now, 600);
  w.brokerTable.bumpGeneration(1);
  const cursor = new SelectionCursor();
  assert.equal([selector.first(k, cursor), ...rest(selector, k, cursor)], [2, 0, 1]);
  assert.equal(w.stickyTable.lookup(k.hash, w.clock.now, 600)?.broker, 1, 'the stale pin is left for placed() to move');
  assert.is(selector.stats().stale, 1);
});

test("a new key another worker is mid-insert of (claimed, not published): followed at once, without waiting for it", () => {
  const w = world();
  const fallback = new CountingFallback([2, 0, 1]);
  const selector = new StickySelector(w.ctx(spec(['a', 'b', 'c'])), fallback);
  const k = keys[9];
  // The other worker's claim, as it sits in shared memory while that worker is descheduled between
  // its claim and its publish: a pending slot naming broker 0.
  const state = writePendingClaim(w.sab, k.hash, 0, 0, w.clock.now);
  const words = new Int32Array(w.sab);
  assert.is(w.stickyTable.lookup(k.hash, w.clock.now, 600), undefined, 'not a pin yet');
  const cursor = new SelectionCursor();
  assert.is(selector.first(k, cursor), 0, "the other worker's choice, not our fallback's (2)");
  assert.equal(rest(selector, k, cursor), [2, 1], 'then our fallback order without it');
  assert.is(words[state] & kKindMask, kKindPublished, 'its claim was published on its behalf');
  assert.is(w.stickyTable.stats().helped, 1);
  assert.is(w.stickyTable.size(), 1);
});

test('bad contexts are refused when building', () => {
  const w = world();
  assert.throws(() => buildSelector('sticky', { ...w.ctx(spec(['a'])), stickyTable: undefined }), /stickyTable/);
  assert.throws(() => buildSelector('sticky', w.ctx(spec(['a']), { stickyTtlSec: 0 })), RangeError);
  assert.throws(() => buildSelector('sticky', w.ctx(spec(['a']), { stickyFallback: 'sticky' as never })), /can't be 'sticky'/);
});

test.run();
