// Tests for src/brokers/layout.ts: the named fields do not overlap and each broker has its own cache line.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as L from '../../src/brokers/layout.ts';

test('header and broker fields are distinct and inside their blocks', () => {
  const header = [L.kRoundRobinField, L.kMaxBrokersField, L.kMagicField, L.kPassiveFailuresField];
  assert.is(new Set(header).size, header.length);
  for (const f of header) assert.ok(f >= 0 && f < L.kHeaderWords);
  const broker = [L.kLiveField, L.kFlagsField, L.kGenerationField, L.kConnectFailStreakField, L.kUpSinceField];
  assert.is(new Set(broker).size, broker.length);
  for (const f of broker) assert.ok(f >= 0 && f < L.kBrokerWords);
});

test('one 64-byte cache line per broker, after a 64-byte header', () => {
  assert.is(L.kBrokerWords * 4, 64);
  assert.is(L.kHeaderWords * 4, 64);
  assert.is(L.brokerWordBytes(L.MAX_BROKERS), 64 + 64 * L.MAX_BROKERS);
  assert.is(L.brokerTableBytes(L.MAX_BROKERS), 64 + 64 * L.MAX_BROKERS + 16 * L.MAX_BROKERS, "then two BigInt64 byte counts a broker");
  assert.is(L.kFlagDown & L.kFlagDraining, 0);
});

test.run();
