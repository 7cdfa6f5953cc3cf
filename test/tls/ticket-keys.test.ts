// Unit tests: the shared session ticket keys: 48 random bytes, the same for every reader of the buffer,
// new after a rotation.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { kTicketKeyBytes, TicketKeys } from '../../src/tls/ticket-keys.ts';

test('every reader of one buffer reads the same keys; a rotation replaces them for all', () => {
  const sab = TicketKeys.allocate();
  const primary = new TicketKeys(sab);
  const worker = new TicketKeys(sab);
  const first = worker.read();
  assert.is(first.length, kTicketKeyBytes);
  assert.ok(first.some((b) => b !== 0), 'random, not zeros');
  assert.equal(primary.read(), first);
  primary.rotate();
  const second = worker.read();
  assert.not.equal(second, first);
  assert.equal(primary.read(), second);
  assert.not.equal(new TicketKeys(TicketKeys.allocate()).read(), second, 'another process, other keys');
});

test.run();
