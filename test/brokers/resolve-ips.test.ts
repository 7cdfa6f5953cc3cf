// Broker names are resolved by the primary: IPs pass through, names become their first address, a name
// that does not resolve leaves the broker undialable (ip undefined) with a log line; free slots stay free.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { resolveBrokerIps } from '../../src/brokers/resolve-ips.ts';
import { freeSlot } from '../../src/brokers/broker-slots.ts';
import type { BrokerConfig } from '../../src/config/resolved.ts';

const b = (name: string, host: string): BrokerConfig => ({ name, host, port: 1883, address: `${host}:1883`, weight: 1, proxyProtocol: 'none', drain: false });

test('IPs as they are, names looked up once, an unknown name undialable and logged', async () => {
  const lines: Record<string, unknown>[] = [];
  const log = pino(new Writable({ write(chunk, _e, done) { lines.push(JSON.parse(String(chunk))); done(); } }));
  const asked: string[] = [];
  const lookup = async (host: string) => {
    asked.push(host);
    if (host === 'broker-a.internal') return { address: '10.1.2.3' };
    throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
  };
  const out = await resolveBrokerIps([b('v4', '127.0.0.1'), b('v6', '::1'), b('named', 'broker-a.internal'), b('gone', 'nowhere.invalid'), freeSlot], log, lookup);
  assert.equal(out.map((x) => x.ip), ['127.0.0.1', '::1', '10.1.2.3', undefined, undefined]);
  assert.equal(asked, ['broker-a.internal', 'nowhere.invalid']);
  assert.is(out[4], freeSlot);
  assert.equal(lines.map((l) => [l.broker, l.err, l.msg]), [['gone', 'ENOTFOUND', 'broker name does not resolve; it is not dialed']]);
});

test.run();
