// Unit tests: the shared connection cap and token bucket.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Admission } from '../../src/limits/admission.ts';

test('max connections counts open clients and frees on release', () => {
  const a = new Admission(Admission.allocate(), { maxConnections: 2, connectRatePerSec: 0, connectBurst: 1 }, 0);
  a.init(0);
  assert.is(a.admit(0), 'ok');
  assert.is(a.admit(0), 'ok');
  assert.is(a.admit(0), 'max-connections');
  a.release();
  assert.is(a.openClients(), 2);
  a.release();
  assert.is(a.admit(0), 'ok');
});

test('token bucket: burst, then refills at the rate, fractional refills accumulate', () => {
  const a = new Admission(Admission.allocate(), { maxConnections: 1000, connectRatePerSec: 2, connectBurst: 3 }, 1000);
  a.init(1000);
  const verdicts = [1000, 1000, 1000, 1000].map((t) => { const v = a.admit(t); a.release(); return v; });
  assert.equal(verdicts, ['ok', 'ok', 'ok', 'connect-rate']);
  // 2 tokens/s: 250 ms gives half a token (refused), 500 ms in total gives one.
  assert.is(a.admit(1250), 'connect-rate'); a.release();
  assert.is(a.admit(1500), 'ok'); a.release();
  assert.is(a.admit(1500), 'connect-rate'); a.release();
  // A long pause refills only up to the burst.
  assert.equal([1, 2, 3, 4].map(() => { const v = a.admit(100_000); a.release(); return v; }), ['ok', 'ok', 'ok', 'connect-rate']);
});

test.run();
