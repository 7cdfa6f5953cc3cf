// readAssignedClientId: the Assigned Client Identifier of a broker's MQTT 5 CONNACK, cut at every byte.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import mqttPacket from 'mqtt-packet';
import { readAssignedClientId } from '../../src/mqtt/connack-reader.ts';

const connack = (reasonCode: number, properties?: mqttPacket.IConnackPacket['properties']) =>
  mqttPacket.generate({ cmd: 'connack', sessionPresent: false, reasonCode, properties }, { protocolVersion: 5 });

test('an accepting CONNACK with an assigned id gives the id; cut anywhere before its end: need more', () => {
  const bytes = Buffer.concat([connack(0, { assignedClientIdentifier: 'auto-1234', serverKeepAlive: 60 }), Buffer.from([0x30, 0x02, 0x00, 0x00])]);
  assert.equal(readAssignedClientId(bytes), { kind: 'assigned', clientId: 'auto-1234' });
  const whole = connack(0, { assignedClientIdentifier: 'auto-1234', serverKeepAlive: 60 }).length;
  for (let cut = 0; cut < whole; cut++) assert.equal(readAssignedClientId(bytes.subarray(0, cut)), { kind: 'need-more' }, `cut ${cut}`);
});

test('no id, a refusal, or not a CONNACK', () => {
  assert.equal(readAssignedClientId(connack(0)), { kind: 'none' });
  assert.equal(readAssignedClientId(connack(0x87, { assignedClientIdentifier: 'x' })), { kind: 'none' });
  assert.is(readAssignedClientId(mqttPacket.generate({ cmd: 'pingresp' })).kind, 'invalid');
  assert.is(readAssignedClientId(Buffer.from([0x20, 0x03, 0x00, 0x00, 0x05, 0x00, 0x00])).kind, 'invalid', 'a property length past the packet');
});

test.run();
