// BrokerSlots: a broker keeps its slot across set changes; a removed one drains in its slot, then the slot
// is free and reused with a generation bump; the array the workers get is dense, removed/free weight 0.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BrokerSlots } from '../../src/brokers/broker-slots.ts';
import type { BrokerConfig } from '../../src/config/resolved.ts';
import { SluiceError } from '../../src/errors.ts';

const b = (name: string, port: number, more: Partial<BrokerConfig> = {}): BrokerConfig =>
  ({ name, host: '127.0.0.1', port, address: `127.0.0.1:${port}`, weight: 1, proxyProtocol: 'none', drain: false, ...more });
const view = (brokers: BrokerConfig[]) => brokers.map((x) => (x.name === '' ? '-' : `${x.name}${x.removed ? '(removed)' : ''}:${x.weight}`));

test('the first set takes slots in config order', () => {
  const s = new BrokerSlots(8);
  const c = s.apply([b('a', 1), b('b', 2), b('c', 3)], () => 0);
  assert.equal(view(c.brokers), ['a:1', 'b:1', 'c:1']);
  assert.equal([c.added, c.removed, c.changed, c.bumpGeneration], [['a', 'b', 'c'], [], [], []]);
});

test('kept brokers keep their slots; a removed one with clients drains in its slot; a new one takes the next free slot', () => {
  const s = new BrokerSlots(8);
  s.apply([b('a', 1), b('b', 2)], () => 0);
  const live = [0, 3];
  const c = s.apply([b('a', 1, { weight: 5 }), b('c', 3)], (i) => live[i] ?? 0);
  assert.equal(view(c.brokers), ['a:5', 'b(removed):0', 'c:1']);
  assert.equal([c.added, c.removed, c.changed, c.bumpGeneration], [['c'], ['b'], ['a'], []]);
  // b's clients leave: at the next change its slot is free, and the next new broker takes it (pins void).
  live[1] = 0;
  const d = s.apply([b('a', 1, { weight: 5 }), b('c', 3), b('d', 4)], (i) => live[i] ?? 0);
  assert.equal(view(d.brokers), ['a:5', 'd:1', 'c:1']);
  assert.equal([d.added, d.removed, d.bumpGeneration], [['d'], [], [1]]);
});

test('a removed broker that comes back, or a name at a new address, keeps its slot with its pins voided', () => {
  const s = new BrokerSlots(8);
  s.apply([b('a', 1), b('b', 2)], () => 0);
  s.apply([b('a', 1)], () => 1); // b removed, still has clients
  const back = s.apply([b('a', 1), b('b', 2)], () => 1);
  assert.equal(view(back.brokers), ['a:1', 'b:1']);
  assert.equal([back.added, back.bumpGeneration], [['b'], [1]]);
  const moved = s.apply([b('a', 9), b('b', 2)], () => 1);
  assert.equal([moved.added, moved.bumpGeneration, moved.brokers[0].address], [['a'], [0], '127.0.0.1:9']);
});

test('a removed broker is freed only at a later change (workers may still place on it until they have the set); then trailing free slots are trimmed', () => {
  const s = new BrokerSlots(2);
  s.apply([b('a', 1), b('b', 2)], () => 0);
  assert.equal(view(s.apply([b('a', 1)], () => 0).brokers), ['a:1', 'b(removed):0']);
  assert.equal(view(s.apply([b('a', 1)], () => 0).brokers), ['a:1']);
});

test('a set that does not fit the table is a config error naming the draining ones', () => {
  const s = new BrokerSlots(2);
  s.apply([b('a', 1), b('b', 2)], () => 0);
  const err = (() => { try { s.apply([b('c', 3), b('d', 4)], () => 1); } catch (e) { return e; } })();
  assert.instance(err, SluiceError);
  assert.match((err as SluiceError).message, /2 brokers do not fit the broker table's 2 slots \(2 removed brokers still have clients/);
});

test.run();
