// Tests for src/balance/consistent-hash.ts: weighted rendezvous hashing, determinism, minimal movement, bounded loads.
// Run with --child, this file prints placements for the cross-process determinism test instead.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConsistentHashSelector } from '../../src/balance/consistent-hash.ts';
import type { BrokerSpec, BuildContext, RouteKey } from '../../src/balance/strategy.ts';
import { BrokerTable } from '../../src/brokers/broker-table.ts';
import { hashKey } from '../../src/hash.ts';

const kKeys = 100_000;
const keys: RouteKey[] = Array.from({ length: kKeys }, (_, i) => ({ text: `client-${i}`, hash: hashKey(`client-${i}`) }));

function ctxOf(brokers: BrokerSpec[], extra: Partial<BuildContext> = {}): BuildContext {
  return { brokers, brokerTable: new BrokerTable(BrokerTable.allocate(16)), ...extra };
}

const spec = (names: string[], weights?: number[]): BrokerSpec[] => names.map((name, i) => ({ name, weight: weights?.[i] ?? 1 }));

/** The broker name each key goes to first. */
function placement(brokers: BrokerSpec[], count = kKeys, extra: Partial<BuildContext> = {}): string[] {
  const selector = new ConsistentHashSelector(ctxOf(brokers, extra));
  return keys.slice(0, count).map((k) => brokers[selector.candidates(k)[0]].name);
}

function shares(names: string[], placed: string[]): number[] {
  return names.map((n) => placed.filter((p) => p === n).length / placed.length);
}

const three = ['mqtt-a:1883', 'mqtt-b:1883', 'mqtt-c:1883'];
const weighted = spec(['w1', 'w2', 'w3'], [1, 2, 3]);

if (process.argv[2] === '--child') {
  // Same names and weights, listed in another order: placement depends on names and weights only.
  const equal = placement(spec([...three].reverse()), 2_000);
  const unequal = placement([...weighted].reverse(), 2_000);
  process.stdout.write(JSON.stringify({ equal, unequal }));
} else {
  test('pinned placements (a change here moves real clients: make it on purpose)', () => {
    const selector = new ConsistentHashSelector(ctxOf(spec(three)));
    const first = ['client-0', 'client-1', 'sensor/42', 'device-7', ''].map((t) => three[selector.candidates({ text: t, hash: hashKey(t) })[0]]);
    assert.equal(first, ['mqtt-a:1883', 'mqtt-c:1883', 'mqtt-b:1883', 'mqtt-c:1883', 'mqtt-b:1883']);
    const w = new ConsistentHashSelector(ctxOf(weighted));
    const order = w.candidates({ text: 'client-0', hash: hashKey('client-0') }).map((i) => weighted[i].name);
    assert.equal(order, ['w3', 'w2', 'w1']);
  });

  test('equal weights: 100k keys spread evenly over 3 brokers', () => {
    const s = shares(three, placement(spec(three)));
    for (const share of s) assert.ok(Math.abs(share - 1 / 3) < 0.01, `${s}`);
  });

  test('weights 1,2,3: ~1/6, 2/6, 3/6 of 100k keys', () => {
    const s = shares(['w1', 'w2', 'w3'], placement(weighted));
    [1 / 6, 2 / 6, 3 / 6].forEach((expected, i) => assert.ok(Math.abs(s[i] - expected) < 0.01, `${s}`));
  });

  test('candidates: every broker with weight > 0, each once; weight 0 never', () => {
    const selector = new ConsistentHashSelector(ctxOf(spec(['a', 'b', 'c', 'd'], [1, 0, 2, 1])));
    for (const k of keys.slice(0, 500)) assert.equal([...selector.candidates(k)].sort(), [0, 2, 3]);
  });

  test('deterministic: a fresh build and a reordered broker list place every key alike', () => {
    const once = placement(spec(three));
    assert.equal(placement(spec(three)), once);
    assert.equal(placement(spec([three[2], three[0], three[1]])), once);
    const w = placement(weighted);
    assert.equal(placement([weighted[1], weighted[2], weighted[0]]), w);
  });

  test('deterministic across processes: a separate Node process places 2k keys the same', () => {
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child'], { encoding: 'utf8', timeout: 30_000 });
    assert.is(child.status, 0, child.stderr);
    const theirs = JSON.parse(child.stdout) as { equal: string[]; unequal: string[] };
    assert.equal(theirs.equal, placement(spec(three), 2_000));
    assert.equal(theirs.unequal, placement(weighted, 2_000));
  });

  test('adding a 4th broker moves ~1/4 of 100k keys, all of them to the new broker', () => {
    const before = placement(spec(three));
    const after = placement(spec([...three, 'mqtt-d:1883']));
    let moved = 0;
    for (let i = 0; i < kKeys; i++) {
      if (before[i] === after[i]) continue;
      moved++;
      assert.is(after[i], 'mqtt-d:1883', `${keys[i].text} moved to ${after[i]}`);
    }
    assert.ok(moved / kKeys > 0.2 && moved / kKeys < 0.3, `moved ${moved / kKeys}`);
  });

  test('removing a broker moves only its keys, spread over the rest', () => {
    const four = [...three, 'mqtt-d:1883'];
    const before = placement(spec(four));
    const after = placement(spec(four.filter((n) => n !== 'mqtt-b:1883')));
    const landed: Record<string, number> = {};
    for (let i = 0; i < kKeys; i++) {
      if (before[i] === 'mqtt-b:1883') landed[after[i]] = (landed[after[i]] ?? 0) + 1;
      else assert.is(after[i], before[i], `${keys[i].text} moved though its broker stayed`);
    }
    for (const n of ['mqtt-a:1883', 'mqtt-c:1883', 'mqtt-d:1883']) assert.ok(landed[n] > 6_000, `${JSON.stringify(landed)}`);
  });

  test('weighted: adding a broker moves keys only to it, about its weight share', () => {
    const before = placement(weighted);
    const after = placement([...weighted, { name: 'w4', weight: 4 }]);
    let moved = 0;
    for (let i = 0; i < kKeys; i++) {
      if (before[i] === after[i]) continue;
      moved++;
      assert.is(after[i], 'w4');
    }
    assert.ok(Math.abs(moved / kKeys - 0.4) < 0.01, `moved ${moved / kKeys}`);
  });

  test('raising one weight moves keys only to that broker', () => {
    const before = placement(weighted);
    const after = placement([weighted[0], { name: 'w2', weight: 4 }, weighted[2]]);
    for (let i = 0; i < kKeys; i++) if (before[i] !== after[i]) assert.is(after[i], 'w2');
  });

  test('bounded loads: balanced live counts leave the hash order untouched', () => {
    const ctx = ctxOf(spec(three), { loadBound: 1.25 });
    for (let i = 0; i < 3; i++) for (let n = 0; n < 100; n++) ctx.brokerTable.connectionOpened(i);
    const bounded = new ConsistentHashSelector(ctx);
    const plain = new ConsistentHashSelector(ctxOf(spec(three)));
    for (const k of keys.slice(0, 2_000)) assert.equal(bounded.candidates(k), plain.candidates(k));
  });

  test('bounded loads: a broker over loadBound x its share goes behind the others, in hash order', () => {
    const ctx = ctxOf(spec(three), { loadBound: 1.25 });
    const live = [200, 50, 50]; // broker 0 holds 2/3; its bound is ceil(1.25 x 301 / 3) = 126
    live.forEach((count, i) => {
      for (let n = 0; n < count; n++) ctx.brokerTable.connectionOpened(i);
    });
    const bounded = new ConsistentHashSelector(ctx);
    const plain = new ConsistentHashSelector(ctxOf(spec(three)));
    let demoted = 0;
    for (const k of keys.slice(0, 3_000)) {
      const expected = plain.candidates(k).filter((b) => b !== 0);
      expected.push(0);
      assert.equal(bounded.candidates(k), expected);
      if (plain.candidates(k)[0] === 0) demoted++;
    }
    assert.ok(demoted > 800, 'about a third of the keys preferred broker 0');
  });

  test('bounded loads: weights set the share (a weight-3 broker may hold 3x)', () => {
    const ctx = ctxOf(spec(['a', 'b'], [3, 1]), { loadBound: 1.25 });
    for (let n = 0; n < 300; n++) ctx.brokerTable.connectionOpened(0);
    for (let n = 0; n < 100; n++) ctx.brokerTable.connectionOpened(1);
    const bounded = new ConsistentHashSelector(ctx);
    const plain = new ConsistentHashSelector(ctxOf(spec(['a', 'b'], [3, 1])));
    for (const k of keys.slice(0, 1_000)) assert.equal(bounded.candidates(k), plain.candidates(k));
  });

  test('bounded loads: ignored while the total is trivial; loadBound < 1 is refused', () => {
    const ctx = ctxOf(spec(three), { loadBound: 1.25 });
    for (let n = 0; n < 10; n++) ctx.brokerTable.connectionOpened(0); // 10 < 4 per broker x 3
    const bounded = new ConsistentHashSelector(ctx);
    const plain = new ConsistentHashSelector(ctxOf(spec(three)));
    for (const k of keys.slice(0, 1_000)) assert.equal(bounded.candidates(k), plain.candidates(k));
    assert.throws(() => new ConsistentHashSelector(ctxOf(spec(three), { loadBound: 0.9 })), RangeError);
  });

  test('duplicate broker names are refused (their scores would tie on every key)', () => {
    assert.throws(() => new ConsistentHashSelector(ctxOf(spec(['a', 'b', 'a']))), /distinct broker names/);
    assert.not.throws(() => new ConsistentHashSelector(ctxOf(spec(['a', 'b', 'a'], [1, 1, 0]))), 'a drained duplicate is not hashed');
  });

  test.run();
}
