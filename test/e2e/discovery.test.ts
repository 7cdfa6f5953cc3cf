// End to end: Sluice finds its brokers by discovery (no static brokers), with real Mosquitto brokers and
// real clients. DNS SRV against a DNS server on 127.0.0.1: a record added, a new client reaches it. HTTP:
// the list changes (a broker removed drains, new clients go to the new set), then the endpoint goes down
// and answers garbage, and the last good set keeps serving. SIGHUP changes the sources: one that stays
// keeps its set (even while it cannot be read), a new one adds its brokers, a removed one's brokers drain.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import dnsPacket from 'dns-packet';
import { startMosquittos, type MosquittoCluster } from '../helpers/mosquitto.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { connectClient } from '../helpers/mqtt.ts';
import { listedClient } from '../helpers/clients.ts';
import { freePort } from '../helpers/ports.ts';

type BrokerView = { name: string; address: string; removed: boolean };
type SourceView = { source: string; brokers?: number; lastError?: string; polls: number };

let cluster: MosquittoCluster;

test.before(async () => {
  cluster = await startMosquittos(2);
});

test.after(async () => {
  await cluster?.stop();
});

async function until<T>(get: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The brokers new clients are placed on: `n` fresh client ids, each connected and listed. */
async function placements(sluice: SluiceProcess, prefix: string, n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-${i}`;
    const c = await connectClient(sluice.port, { clientId: id });
    seen.add((await listedClient(sluice, id)).broker);
    await c.endAsync();
  }
  return seen;
}

test('dns SRV: the brokers the records name; a record added, and new clients reach its broker', async () => {
  const [m1, m2] = cluster.brokers;
  const srv = (port: number, target: string): dnsPacket.Answer => ({ type: 'SRV', name: '_mqtt._tcp.cluster.test', ttl: 1, data: { priority: 0, weight: 1, port, target } });
  const zone = new Map<string, dnsPacket.Answer[]>([
    ['_mqtt._tcp.cluster.test', [srv(m1.port, 'm1.cluster.test')]],
    ['m1.cluster.test', [{ type: 'A', name: 'm1.cluster.test', ttl: 1, data: '127.0.0.1' }]],
    ['m2.cluster.test', [{ type: 'A', name: 'm2.cluster.test', ttl: 1, data: '127.0.0.1' }]],
  ]);
  const socket: UdpSocket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const question = q.questions![0];
    const answers = (zone.get(question.name) ?? []).filter((a) => a.type === question.type);
    socket.send(dnsPacket.encode({ type: 'response', id: q.id, flags: zone.has(question.name) ? 0 : 3, questions: q.questions, answers }), rinfo.port, rinfo.address);
  });
  const dnsPort = await freePort();
  await new Promise<void>((r) => socket.bind(dnsPort, '127.0.0.1', r));
  const sluice = await startSluice({
    workers: 2, balance: { strategy: 'round-robin' }, log: { level: 'info' },
    discovery: [{ type: 'dns', name: '_mqtt._tcp.cluster.test', record: 'SRV', resolver: `127.0.0.1:${dnsPort}`, interval: '200ms' }],
  });
  try {
    assert.equal([...await placements(sluice, 'dns-a', 4)], [`m1.cluster.test:${m1.port}`]);
    zone.get('_mqtt._tcp.cluster.test')!.push(srv(m2.port, 'm2.cluster.test'));
    await until(async () => (await sluice.admin<BrokerView[]>('/api/brokers')).body, (b) => b.length === 2, 'the second broker discovered');
    const seen = await placements(sluice, 'dns-b', 6);
    assert.ok(seen.has(`m2.cluster.test:${m2.port}`), `a new client reached m2: ${[...seen]}`);
    assert.match(sluice.output(), /discovery source has a new broker set/);
  } finally {
    await sluice.stop();
    socket.close();
  }
});

test('http: the list changes (the removed broker drains), then the endpoint goes down and answers garbage: the last set serves', async () => {
  const [m1, m2] = cluster.brokers;
  let version = 1;
  let body = JSON.stringify({ brokers: [{ name: 'm1', address: m1.address }] });
  let requests = 0;
  let notModified = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    if (req.headers['if-none-match'] === `"v${version}"`) { notModified++; res.writeHead(304).end(); return; }
    res.writeHead(200, { etag: `"v${version}"`, 'content-type': 'application/json' }).end(body);
  });
  const httpPort = await freePort();
  await new Promise<void>((r) => server.listen(httpPort, '127.0.0.1', r));
  const sluice = await startSluice({
    workers: 2, log: { level: 'info' },
    discovery: [{ type: 'http', url: `http://127.0.0.1:${httpPort}/brokers`, interval: '200ms', timeout: '500ms' }],
  });
  try {
    const held = await connectClient(sluice.port, { clientId: 'held-on-m1' });
    assert.is((await listedClient(sluice, 'held-on-m1')).broker, 'm1');
    await until(async () => notModified, (n) => n >= 2, 'polls answered 304');
    version = 2;
    body = JSON.stringify({ brokers: [{ name: 'm2', address: m2.address }] });
    const view = await until(async () => (await sluice.admin<BrokerView[]>('/api/brokers')).body, (b) => b.some((x) => x.name === 'm2'), 'm2 discovered');
    assert.equal(view.map((b) => [b.name, b.removed]), [['m1', true], ['m2', false]], 'm1 stays listed while its client drains');
    assert.equal([...await placements(sluice, 'http-a', 4)], ['m2']);
    assert.ok(held.connected, 'the client on the removed broker is still connected');
    // Garbage, then the endpoint gone: the set stays.
    version = 3;
    body = '<html>oops</html>';
    await until(async () => (await sluice.admin<{ sources: SourceView[] }>('/api/discovery')).body.sources[0], (s) => s.lastError === 'the answer is not JSON', 'garbage seen');
    server.close();
    server.closeAllConnections();
    await until(async () => (await sluice.admin<{ sources: SourceView[] }>('/api/discovery')).body.sources[0], (s) => /ECONNREFUSED/.test(String(s.lastError)), 'endpoint down seen');
    assert.equal([...await placements(sluice, 'http-b', 3)], ['m2']);
    assert.ok(requests > 4);
    await held.endAsync();
  } finally {
    await sluice.stop();
    server.close();
  }
});

test('SIGHUP changes the sources: a kept source keeps its set, a new one adds, a removed one drains', async () => {
  const [m1, m2] = cluster.brokers;
  const dir = mkdtempSync(join(tmpdir(), 'sluice-disco-'));
  const [fa, fb] = [join(dir, 'a.json'), join(dir, 'b.json')];
  writeFileSync(fa, JSON.stringify({ brokers: [{ name: 'm1', address: m1.address }] }));
  writeFileSync(fb, JSON.stringify({ brokers: [{ name: 'm2', address: m2.address }] }));
  const a = { type: 'file', path: fa, interval: '200ms' };
  const b = { type: 'file', path: fb, interval: '200ms' };
  const sluice = await startSluice({ workers: 1, log: { level: 'info' }, discovery: [a] });
  const reload = async (discovery: unknown[]) => {
    const from = sluice.output().length;
    sluice.rewrite({ workers: 1, log: { level: 'info' }, discovery });
    sluice.process.kill('SIGHUP');
    await until(async () => sluice.output().slice(from), (o) => /config reloaded/.test(o), 'reload');
    return sluice.output().slice(from);
  };
  const names = async () => (await sluice.admin<BrokerView[]>('/api/brokers')).body.map((x) => `${x.name}${x.removed ? ' (removed)' : ''}`);
  try {
    assert.equal(await names(), ['m1']);
    // Source a cannot be read any more, but it stays configured: it keeps its last good set.
    unlinkSync(fa);
    assert.match(await reload([a, b]), /"applied":\["discovery"\]/);
    assert.equal(await names(), ['m1', 'm2']);
    assert.equal([...await placements(sluice, 'disco-both', 6)].sort(), ['m1', 'm2']);
    await reload([b]);
    // Listed as removed (its slot is freed at a later change once no client is on it); never chosen.
    assert.equal(await names(), ['m1 (removed)', 'm2']);
    assert.equal([...await placements(sluice, 'disco-b', 3)], ['m2']);
  } finally {
    await sluice.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
