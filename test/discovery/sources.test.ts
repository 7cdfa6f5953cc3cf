// Discovery sources against real servers on 127.0.0.1: a watched file, an HTTP endpoint (ETag, 304,
// errors, garbage, a bearer token), a DNS server (A and SRV); the shared rules: a failure or an empty
// answer keeps the last good set, and the set is the static brokers then each source's, duplicates skipped.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import dnsPacket from 'dns-packet';
import { pino } from 'pino';
import { FileSource } from '../../src/discovery/file-source.ts';
import { HttpSource, emqxNodes } from '../../src/discovery/http-source.ts';
import { DnsSource } from '../../src/discovery/dns-source.ts';
import { combineBrokers } from '../../src/discovery/discovery.ts';
import { parseBrokerList } from '../../src/discovery/broker-list.ts';
import type { CounterName } from '../../src/metrics/counters.ts';
import type { BrokerConfig } from '../../src/config/resolved.ts';
import { freePort } from '../helpers/ports.ts';

function env() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, new Writable({ write(chunk, _e, done) { lines.push(JSON.parse(String(chunk))); done(); } }));
  const counts: Partial<Record<CounterName, number>> = {};
  const counters = { add(name: CounterName, n = 1) { counts[name] = (counts[name] ?? 0) + n; } };
  let changes = 0;
  return { log, lines, counts, counters, onChange: () => { changes++; }, changes: () => changes };
}
const names = (brokers: BrokerConfig[] | undefined) => brokers?.map((b) => `${b.name}=${b.address}`);

async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("broker lists: the config's broker form, a bare list too; bad entries and duplicates refuse the whole answer", () => {
  const ok = parseBrokerList({ brokers: [{ name: 'a', address: '127.0.0.1:1884', weight: 2 }] });
  assert.equal(ok.ok && ok.brokers.map((b) => [b.name, b.port, b.weight]), [['a', 1884, 2]]);
  assert.ok(parseBrokerList([{ name: 'a', address: '127.0.0.1:1884' }]).ok);
  const bad = parseBrokerList({ brokers: [{ name: 'a', address: 'nope' }] });
  assert.match(bad.ok ? '' : bad.error, /brokers\[0\]\.address: not host:port/);
  const dup = parseBrokerList({ brokers: [{ name: 'a', address: '127.0.0.1:1' }, { name: 'a', address: '127.0.0.1:2' }] });
  assert.equal(dup.ok ? '' : dup.error, 'duplicate broker name "a"');
});

test('the set: static brokers first, then each source in order; a taken name or address is skipped', () => {
  const b = (name: string, port: number): BrokerConfig => ({ name, host: '127.0.0.1', port, address: `127.0.0.1:${port}`, weight: 1, proxyProtocol: 'none', drain: false });
  const { brokers, skipped } = combineBrokers([b('a', 1)], [[b('a', 2), b('b', 3)], undefined, [b('c', 3), b('d', 4)]]);
  assert.equal(names(brokers), ['a=127.0.0.1:1', 'b=127.0.0.1:3', 'd=127.0.0.1:4']);
  assert.equal(skipped, ['a=127.0.0.1:2', 'c=127.0.0.1:3']);
});

test('EMQX node list: running nodes at mqtt_port, stopped ones left out', () => {
  const r = emqxNodes([{ node: 'emqx@10.0.0.1', node_status: 'running' }, { node: 'emqx@10.0.0.2', node_status: 'stopped' }, { node: 'emqx@fd00::3', node_status: 'running' }], 1883);
  assert.equal(r.ok && names(r.brokers), ['emqx@10.0.0.1=10.0.0.1:1883', 'emqx@fd00::3=[fd00::3]:1883']);
  assert.not.ok(emqxNodes({ nodes: [] }, 1883).ok);
});

test('file: read at start, again when replaced (a rename); garbage and an empty list keep the last set', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-disc-'));
  const path = join(dir, 'brokers.yaml');
  const write = (text: string) => { writeFileSync(`${path}.tmp`, text); renameSync(`${path}.tmp`, path); };
  write('brokers:\n  - { name: a, address: 127.0.0.1:1884 }\n');
  const e = env();
  const src = new FileSource(path, 60_000, false, e.onChange, e.log, e.counters);
  await src.start();
  assert.equal(names(src.brokers), ['a=127.0.0.1:1884']);
  write('{"brokers": [{"name": "a", "address": "127.0.0.1:1884"}, {"name": "b", "address": "127.0.0.1:1885"}]}');
  await until(() => src.brokers?.length === 2, 'the new file read (watch)');
  write('brokers: [ { name: a, address');
  await until(() => e.counts.discovery_failures === 1, 'garbage refused');
  assert.equal(src.brokers?.length, 2);
  assert.match(String(src.status().lastError), /not valid YAML/);
  write('brokers: []\n');
  await until(() => e.counts.discovery_failures === 2, 'empty refused');
  assert.equal(src.brokers?.length, 2, 'an empty list does not wipe the set');
  assert.equal(e.lines.filter((l) => l.msg === 'discovery source failed; its last good set stays').length, 2);
  await src.stop();
  assert.is(e.changes(), 2);
});

test('http: the list, then 304 with the ETag, errors and garbage keep the set, the token is sent (never logged), a hang times out', async () => {
  let answer: { status: number; body: string; etag?: string; hang?: boolean } = { status: 200, body: JSON.stringify({ brokers: [{ name: 'a', address: '127.0.0.1:1884' }] }), etag: '"v1"' };
  const seen: { ifNoneMatch?: string; auth?: string }[] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ ifNoneMatch: req.headers['if-none-match'], auth: req.headers.authorization });
    if (answer.hang) return;
    if (answer.etag && req.headers['if-none-match'] === answer.etag) { res.writeHead(304).end(); return; }
    res.writeHead(answer.status, answer.etag ? { etag: answer.etag, 'content-type': 'application/json' } : {}).end(answer.body);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const dir = mkdtempSync(join(tmpdir(), 'sluice-disc-'));
  writeFileSync(join(dir, 'token'), 'sekrit-token\n');
  const e = env();
  const src = new HttpSource({ url: `http://127.0.0.1:${port}/brokers`, intervalMs: 40, timeoutMs: 200, format: 'sluice', mqttPort: 1883, tokenFile: join(dir, 'token'), allowEmpty: false }, e.onChange, e.log, e.counters);
  await src.start();
  assert.equal(names(src.brokers), ['a=127.0.0.1:1884']);
  await until(() => seen.length >= 3, 'polls');
  assert.is(seen[1].ifNoneMatch, '"v1"', 'the ETag goes back');
  assert.is(seen[0].auth, 'Bearer sekrit-token');
  assert.is(e.changes(), 1, '304s change nothing');
  answer = { status: 200, body: JSON.stringify({ brokers: [{ name: 'a', address: '127.0.0.1:1884' }, { name: 'b', address: '127.0.0.1:1885' }] }), etag: '"v2"' };
  await until(() => src.brokers?.length === 2, 'the new list');
  for (const [next, why] of [[{ status: 500, body: 'oops' }, /HTTP 500/], [{ status: 200, body: '<html>' }, /not JSON/], [{ status: 200, body: '{"brokers":[{"name":"x"}]}' }, /address/], [{ status: 200, body: '', hang: true }, /no answer within 200ms/]] as const) {
    answer = next;
    await until(() => why.test(String(src.status().lastError)), String(why));
    assert.equal(src.brokers?.length, 2, 'the last good set stays');
  }
  assert.not.match(JSON.stringify(e.lines), /sekrit/);
  await src.stop();
  server.close();
  server.closeAllConnections();
});

/** A DNS server on 127.0.0.1 answering from `zone` (name -> records); unknown names get NXDOMAIN. */
async function dnsServer(zone: Map<string, dnsPacket.Answer[]>): Promise<{ port: number; socket: UdpSocket }> {
  const socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const question = q.questions![0];
    const answers = (zone.get(question.name) ?? []).filter((a) => a.type === question.type);
    const reply = dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_DESIRED | (zone.has(question.name) ? 0 : 3), questions: q.questions, answers });
    socket.send(reply, rinfo.port, rinfo.address);
  });
  const port = await freePort();
  await new Promise<void>((r) => socket.bind(port, '127.0.0.1', r));
  return { port, socket };
}

test('dns: A records at the port, re-resolved (a record added shows up); SRV targets with ports and weights; NXDOMAIN keeps the set', async () => {
  const zone = new Map<string, dnsPacket.Answer[]>([
    ['brokers.test', [{ type: 'A', name: 'brokers.test', ttl: 1, data: '127.0.0.2' }]],
    ['_mqtt._tcp.brokers.test', [
      { type: 'SRV', name: '_mqtt._tcp.brokers.test', ttl: 1, data: { priority: 10, weight: 5, port: 1884, target: 'b1.test' } },
      { type: 'SRV', name: '_mqtt._tcp.brokers.test', ttl: 1, data: { priority: 10, weight: 0, port: 1885, target: 'b2.test' } },
      { type: 'SRV', name: '_mqtt._tcp.brokers.test', ttl: 1, data: { priority: 20, weight: 5, port: 1886, target: 'backup.test' } },
    ]],
    ['b1.test', [{ type: 'A', name: 'b1.test', ttl: 1, data: '127.0.0.11' }]],
    ['b2.test', [{ type: 'A', name: 'b2.test', ttl: 1, data: '127.0.0.12' }]],
  ]);
  const dns = await dnsServer(zone);
  const e = env();
  const a = new DnsSource({ name: 'brokers.test', record: 'A', port: 1883, resolver: `127.0.0.1:${dns.port}`, intervalMs: 50, allowEmpty: false }, e.onChange, e.log, e.counters);
  await a.start();
  assert.equal(names(a.brokers), ['127.0.0.2:1883=127.0.0.2:1883']);
  zone.get('brokers.test')!.push({ type: 'A', name: 'brokers.test', ttl: 1, data: '127.0.0.3' });
  await until(() => a.brokers?.length === 2, 'the added record');
  zone.delete('brokers.test');
  await until(() => (e.counts.discovery_failures ?? 0) >= 1, 'NXDOMAIN seen');
  assert.is(a.brokers?.length, 2, 'no such name does not wipe the set');
  await a.stop();
  const srv = new DnsSource({ name: '_mqtt._tcp.brokers.test', record: 'SRV', port: 1883, resolver: `127.0.0.1:${dns.port}`, intervalMs: 60_000, allowEmpty: false }, e.onChange, e.log, e.counters);
  await srv.start();
  assert.equal(srv.brokers?.map((b) => [b.name, b.address, b.weight]), [['b1.test:1884', '127.0.0.11:1884', 5], ['b2.test:1885', '127.0.0.12:1885', 1]]);
  await srv.stop();
  dns.socket.close();
});

test.run();
