// Tests for src/timers/deadline-list.ts: many timeouts of one duration on one timer, in arrival order.
// Timers may fire late on a loaded machine, never early: the tests assert order, "not before its
// deadline" and "eventually", so they hold however busy the machine is.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DeadlineList, type DeadlineEntry } from '../../src/timers/deadline-list.ts';

type Entry = DeadlineEntry & { name: string; addedMs: number };
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

function harness(durationMs: number) {
  const expired: { name: string; afterMs: number }[] = [];
  let onExpire = (_e: Entry) => {};
  const list = new DeadlineList<Entry>(durationMs, (e) => { expired.push({ name: e.name, afterMs: Date.now() - e.addedMs }); onExpire(e); });
  const add = (name: string): Entry => {
    const e: Entry = { name, addedMs: Date.now(), deadlinePrev: undefined, deadlineNext: undefined, deadlineMs: 0 };
    list.add(e);
    return e;
  };
  const until = async (n: number) => {
    for (let waited = 0; expired.length < n; waited += 5) {
      if (waited > 5000) throw new Error(`only ${expired.length} of ${n} expired`);
      await delay(5);
    }
  };
  return { list, add, expired, until, setOnExpire: (f: (e: Entry) => void) => { onExpire = f; } };
}

test('entries expire in arrival order, none before its duration; a removed one never', async () => {
  const h = harness(40);
  const a = h.add('a');
  await delay(10);
  const b = h.add('b');
  h.add('c');
  assert.is(h.list.size, 3);
  assert.ok(h.list.oldest() === a);
  h.list.remove(b);
  assert.is(h.list.size, 2);
  assert.is(b.deadlineMs, 0);
  await h.until(2);
  await delay(60); // b would have been due by now
  assert.equal(h.expired.map((x) => x.name), ['a', 'c']);
  for (const x of h.expired) assert.ok(x.afterMs >= 39, `${x.name} expired after ${x.afterMs} ms`);
  assert.is(h.list.size, 0);
  assert.is(h.list.oldest(), undefined);
});

test('removing the head: the timer armed for it re-arms for the next, which still expires, not early', async () => {
  const h = harness(40);
  const a = h.add('a');
  await delay(20);
  h.add('b');
  h.list.remove(a);
  await h.until(1);
  assert.equal(h.expired.map((x) => x.name), ['b']);
  assert.ok(h.expired[0].afterMs >= 39, `b expired after ${h.expired[0].afterMs} ms`);
});

test('an entry added while others expire is due a full duration later; an entry is in one list at a time', async () => {
  const h = harness(30);
  let again: Entry | undefined;
  h.setOnExpire((e) => { if (e.name === 'first') again = h.add('again'); });
  h.add('first');
  await h.until(2);
  assert.equal(h.expired.map((x) => x.name), ['first', 'again']);
  assert.ok(h.expired[1].afterMs >= 29);
  const e = h.add('twice');
  assert.throws(() => h.list.add(e), /already in a list/);
  h.list.remove(e);
  assert.ok(again);
});

test('a duration a timer cannot wait is refused', () => {
  assert.throws(() => new DeadlineList(0, () => {}), RangeError);
  assert.throws(() => new DeadlineList(2 ** 31, () => {}), RangeError);
});

test.run();
