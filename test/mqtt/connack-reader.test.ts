// readAssignedClientId: the Assigned Client Identifier of a broker's MQTT 5 CONNACK, cut at every byte;
// connackCode and isBrokerRefusal: the code passive health judges a broker by.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import mqttPacket from 'mqtt-packet';
import { connackCode, isBrokerRefusal, readAssignedClientId } from '../../src/mqtt/connack-reader.ts';

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

const connackV3 = (returnCode: number) => mqttPacket.generate({ cmd: 'connack', sessionPresent: false, returnCode }, { protocolVersion: 4 });

test('connackCode: the code of a 3.1.1 or 5.0 CONNACK; cut before it, or not a CONNACK: -1', () => {
  assert.is(connackCode(connackV3(0)), 0);
  assert.is(connackCode(connackV3(3)), 3);
  assert.is(connackCode(connack(0x89, { reasonString: 'busy' })), 0x89);
  // A CONNACK whose properties make the remaining length two bytes long: the code is after them.
  const big = connack(0x88, { reasonString: 'x'.repeat(200) });
  assert.is(big[2] & 0x80, 0, 'the length needed a second byte');
  assert.is(connackCode(big), 0x88);
  for (let cut = 0; cut < 5; cut++) assert.is(connackCode(big.subarray(0, cut)), -1, `cut ${cut}`);
  assert.is(connackCode(big.subarray(0, 5)), 0x88, 'the rest of the packet is not needed');
  assert.is(connackCode(mqttPacket.generate({ cmd: 'pingresp' })), -1);
  assert.is(connackCode(Buffer.from([0x20, 0x01, 0x00])), -1, 'too short to hold a code');
  assert.is(connackCode(new Uint8Array(0)), -1);
});

test("isBrokerRefusal: the broker's own state, not the client's", () => {
  for (const code of [0x03, 0x88, 0x89, 0x97, 0x9f]) assert.ok(isBrokerRefusal(code), `0x${code.toString(16)}`);
  // Accepted; 3.1.1 protocol, identifier, credentials, authorisation; 5.0 unspecified, malformed,
  // protocol, id, credentials, not authorized, banned, use another server.
  for (const code of [0x00, 0x01, 0x02, 0x04, 0x05, 0x80, 0x81, 0x84, 0x85, 0x86, 0x87, 0x8a, 0x9c, -1]) assert.not.ok(isBrokerRefusal(code), `0x${code.toString(16)}`);
});

test.run();
