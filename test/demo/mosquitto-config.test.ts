// Unit tests: the generated mosquitto.conf of each demo broker (a star of MQTT 5 bridges to demo-1).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mosquittoConfText } from '../../src/demo/mosquitto-config.ts';
import type { BrokerConfig } from '../../src/config/resolved.ts';

const brokers: BrokerConfig[] = [1, 2, 3].map((i) => ({ name: `demo-${i}`, host: '127.0.0.1', port: 1883 + i, address: `127.0.0.1:${1883 + i}`, weight: 1, proxyProtocol: 'none' as const, drain: false }));
const lines = (text: string) => text.split('\n').filter((l) => l && !l.startsWith('#'));

test('the hub (demo-1) listens and has no bridge', () => {
  const hub = lines(mosquittoConfText(brokers, 0));
  assert.ok(hub.includes('listener 1884 127.0.0.1'));
  assert.ok(hub.includes('allow_anonymous true'));
  assert.ok(hub.includes('persistence false'));
  assert.ok(hub.includes('log_dest stderr'), 'stderr is unbuffered: lines reach Sluice as they happen');
  assert.not.ok(hub.some((l) => l.startsWith('connection ')));
});

test('every other broker bridges all topics both ways to the hub over MQTT 5, $SYS and notifications stay local', () => {
  for (const i of [1, 2]) {
    const leaf = lines(mosquittoConfText(brokers, i));
    assert.ok(leaf.includes(`listener ${1884 + i} 127.0.0.1`));
    assert.ok(leaf.includes(`connection sluice-demo-${i + 1}-to-demo-1`));
    assert.ok(leaf.includes('address 127.0.0.1:1884'));
    assert.ok(leaf.includes('bridge_protocol_version mqttv50'));
    assert.ok(leaf.includes('try_private true'));
    assert.ok(leaf.includes('notifications_local_only true'));
    assert.equal(leaf.filter((l) => l.startsWith('topic ')), ['topic # both 2'], '"#" never matches $SYS/...');
    assert.equal(leaf.filter((l) => l.startsWith('connection ')).length, 1, 'one bridge: a star has no loops');
  }
});

test('a wildcard host is listened on, but the bridge dials loopback', () => {
  const wide = brokers.map((b) => ({ ...b, host: '0.0.0.0', address: `0.0.0.0:${b.port}` }));
  const leaf = lines(mosquittoConfText(wide, 1));
  assert.ok(leaf.includes('listener 1885 0.0.0.0'));
  assert.ok(leaf.includes('address 127.0.0.1:1884'));
});

test.run();
