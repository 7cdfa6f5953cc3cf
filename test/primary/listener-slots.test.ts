// ListenerSlots: a listener keeps its count slot while its settings stay; a new one takes the slot free
// longest (and its counts are reset); plan() changes nothing until commit().
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ListenerSlots } from '../../src/primary/listener-slots.ts';
import type { ListenerConfig } from '../../src/config/resolved.ts';

const l = (port: number, protocol: ListenerConfig['protocol'] = 'mqtt'): ListenerConfig => ({
  bind: { address: `127.0.0.1:${port}`, host: '127.0.0.1', port }, protocol, tls: undefined, acceptProxyProtocol: false, ws: undefined, clientIdMustMatch: undefined,
});

test('stable slots, the longest-free slot for a new listener, reset on reuse', () => {
  const reset: number[] = [];
  const slots = new ListenerSlots((s) => reset.push(s));
  const first = [l(1), l(2)];
  const a = slots.plan(first);
  assert.equal(a, [0, 1]);
  slots.commit(first, a);
  assert.equal(reset, [0, 1]);
  assert.equal(slots.current(), [{ slot: 0, label: 'mqtt://127.0.0.1:1' }, { slot: 1, label: 'mqtt://127.0.0.1:2' }]);

  const second = [l(2), l(3), l(1, 'ws')];
  const b = slots.plan(second);
  assert.equal(b, [1, 2, 3], 'kept; then the free slots in order (0 is freed only at commit)');
  assert.equal(slots.plan(first), [0, 1], 'plan changed nothing');
  slots.commit(second, b);
  assert.equal(reset, [0, 1, 2, 3]);
  const third = [l(2), l(4)];
  const c = slots.plan(third);
  assert.equal(c, [1, 4], 'slot 0 was freed last round: the untouched slots come first');
  slots.commit(third, c);
  assert.equal(slots.current().map((x) => x.label), ['mqtt://127.0.0.1:2', 'mqtt://127.0.0.1:4']);
});

test.run();
