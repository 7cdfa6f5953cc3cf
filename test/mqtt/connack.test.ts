// Tests for refusal CONNACKs: every refusal x protocol level gives the right bytes, which mqtt-packet parses back.
import { Buffer } from 'node:buffer';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { refusalConnack, refusalReasonCode } from '../../src/mqtt/connack.ts';
import type { Refusal } from '../../src/mqtt/connack.ts';
import { mqttPacketParse } from '../fixtures/mqtt/connects.ts';

// [refusal, 5.0 reason code, 3.1/3.1.1 return code or undefined = close without CONNACK]
const table: Array<[Refusal, number, number | undefined]> = [
  ['unsupported-protocol', 0x84, 0x01],
  ['malformed', 0x81, undefined],
  ['too-large', 0x95, undefined],
  ['server-unavailable', 0x88, 0x03],
  ['server-busy', 0x89, 0x03],
  ['quota-exceeded', 0x97, 0x03],
  ['connection-rate-exceeded', 0x9f, 0x03],
  ['client-id-rejected', 0x85, 0x02],
  ['internal-error', 0x80, 0x03],
];

function expectedBytes(refusal: Refusal, level: number | undefined, name: string | undefined, v5Code: number, v3Code: number | undefined): Buffer | undefined {
  const v5 = Buffer.from([0x20, 0x03, 0x00, v5Code, 0x00]);
  const v3 = v3Code === undefined ? undefined : Buffer.from([0x20, 0x02, 0x00, v3Code]);
  // An unsupported level: only 'MQTT' above 5 (a newer client) reads the 5.0 form.
  if (refusal === 'unsupported-protocol') return name === 'MQTT' && level !== undefined && level > 5 ? v5 : v3;
  if (level === 5) return v5;
  if (level === 3 || level === 4) return v3;
  return undefined;
}

test('every refusal x level x protocol name: exact bytes and reason code', () => {
  for (const [refusal, v5Code, v3Code] of table) {
    for (const name of [undefined, 'MQTT', 'MQIsdp']) {
      for (const level of [undefined, 0, 2, 3, 4, 5, 6, 0x84]) {
        const want = expectedBytes(refusal, level, name, v5Code, v3Code);
        const got = refusalConnack(refusal, level, name);
        const label = `${refusal} ${name} level ${level}`;
        if (want === undefined) {
          assert.is(got, undefined, label);
          assert.is(refusalReasonCode(refusal, level, name), undefined, label);
        } else {
          assert.ok(got, label);
          assert.is(got!.toString('hex'), want.toString('hex'), label);
          assert.is(refusalReasonCode(refusal, level, name), want[3], label);
        }
      }
    }
  }
});

test('unsupported level: MQIsdp at level 5 gets the 3.1 form 0x01 (not 0x84); MQTT at 6 gets 0x84', () => {
  assert.is(refusalConnack('unsupported-protocol', 5, 'MQIsdp')!.toString('hex'), '20020001');
  assert.is(refusalConnack('unsupported-protocol', 6, 'MQIsdp')!.toString('hex'), '20020001');
  assert.is(refusalConnack('unsupported-protocol', 6, 'MQTT')!.toString('hex'), '2003008400');
  assert.is(refusalConnack('unsupported-protocol', 3, 'MQTT')!.toString('hex'), '20020001');
});

test('the DESIGN table: 3.1.1 unsupported 0x01, 5.0 0x84; no healthy broker 0x03 / 0x88; too large closes in 3.1.1', () => {
  assert.is(refusalReasonCode('unsupported-protocol', 2, 'MQTT'), 0x01);
  assert.is(refusalReasonCode('unsupported-protocol', 7, 'MQTT'), 0x84);
  assert.is(refusalReasonCode('server-unavailable', 4), 0x03);
  assert.is(refusalReasonCode('server-unavailable', 5), 0x88);
  assert.is(refusalConnack('too-large', 4), undefined);
  assert.is(refusalConnack('too-large', 3), undefined);
  assert.is(refusalReasonCode('too-large', 5), 0x95);
  assert.is(refusalConnack('malformed', undefined), undefined);
});

test('every CONNACK parses back with mqtt-packet as a refusal without session present', () => {
  for (const [refusal] of table) {
    for (const level of [3, 4, 5, 6]) {
      const bytes = refusalConnack(refusal, level, 'MQTT');
      if (bytes === undefined) continue;
      const v5 = bytes[1] === 3;
      const parsed = mqttPacketParse(bytes, v5 ? 5 : level === 3 ? 3 : 4);
      assert.is(parsed.error, undefined, `${refusal} ${level}`);
      assert.is(parsed.packets.length, 1);
      const p = parsed.packets[0];
      if (p.cmd !== 'connack') return assert.unreachable(`${refusal} ${level}: ${p.cmd}`);
      assert.is(p.sessionPresent, false);
      if (v5) assert.is(p.reasonCode, refusalReasonCode(refusal, level, 'MQTT'));
      else assert.is(p.returnCode, refusalReasonCode(refusal, level, 'MQTT'));
    }
  }
});

test('the buffers are built once: the same instance each call', () => {
  assert.ok(refusalConnack('server-busy', 5) === refusalConnack('server-busy', 5));
  assert.ok(refusalConnack('server-busy', 4) === refusalConnack('server-busy', 3));
});

test.run();
