// RiseFall: a state flips only after `fall` failures or `rise` passes in a row.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RiseFall } from '../../src/health/rise-fall.ts';

test('up goes down only after `fall` failures in a row; a pass in between starts the count again', () => {
  const s = new RiseFall(2, 3);
  assert.equal([false, false, true, false, false].map((ok) => s.record(ok)), [undefined, undefined, undefined, undefined, undefined]);
  assert.is(s.state, 'up');
  assert.is(s.streak, 2);
  assert.is(s.record(false), 'down');
  assert.is(s.state, 'down');
  assert.is(s.streak, 0);
  assert.is(s.record(false), undefined, 'staying down is no flip');
});

test('down comes up only after `rise` passes in a row', () => {
  const s = new RiseFall(2, 1, 'down');
  assert.equal([true, false, true].map((ok) => s.record(ok)), [undefined, undefined, undefined]);
  assert.is(s.record(true), 'up');
  assert.is(s.record(false), 'down', 'fall 1: one failure is enough');
});

test('rise and fall must be whole numbers >= 1', () => {
  assert.throws(() => new RiseFall(0, 2), /rise and fall/);
  assert.throws(() => new RiseFall(2, 1.5), /rise and fall/);
});

test.run();
