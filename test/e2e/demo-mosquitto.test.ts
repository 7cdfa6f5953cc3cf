// End to end: the demo cluster on real Mosquitto brokers (a star of MQTT 5 bridges): MQTT 5 clients
// (MQTT.js and mosquitto_pub/sub -V 5) placed on different brokers meet, with their MQTT 5 properties;
// Sluice starts, restarts and stops the brokers itself and leaves none behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { stringify } from 'yaml';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { freePort, freePortBlock } from '../helpers/ports.ts';
import { connectClient } from '../helpers/mqtt.ts';
import { findMosquitto } from '../../src/demo/engine.ts';

const cli = new URL('../../src/cli.ts', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type LogLine = { msg: string; level: number; [k: string]: unknown };
const logLines = (out: string): LogLine[] => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);
/** pid of each demo broker, from its "demo broker listening" line (the latest one per broker). */
function brokerPids(out: string): Map<string, number> {
  const pids = new Map<string, number>();
  for (const l of logLines(out)) if (l.msg === 'demo broker listening' || l.msg === 'demo broker restarted') pids.set(l.broker as string, l.brokerPid as number);
  return pids;
}
/** A process is gone when /proc has no entry for it, or only a zombie nobody has reaped yet. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch { return false; }
}
async function waitGone(pids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  while (pids.some(alive) && Date.now() < deadline) await sleep(50);
  return pids.filter(alive);
}
async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await sleep(50);
  return check();
}

const demoConfig = async (brokers = 3) => ({ workers: 2, demo: { brokers, first_port: await freePortBlock(brokers), engine: 'mosquitto' }, log: { level: 'info' } });

if (!findMosquitto()) {
  test('mosquitto is not installed here: the Mosquitto demo tests are skipped (apt-get install mosquitto)', () => {});
  test.run();
} else {
  let s: SluiceProcess;
  let firstPort: number;
  // Client ids the sticky table pins to demo-2 and demo-3 (the two brokers that bridge to demo-1).
  const idOn = new Map<string, string>();
  const clients: MqttClient[] = [];
  const endClients = async () => { for (const c of clients.splice(0)) await c.endAsync(true).catch(() => {}); };

  test.before(async () => {
    const config = await demoConfig();
    firstPort = config.demo.first_port;
    s = await startSluice(config);
    const placed = async (id: string) => (await s.admin<{ clients: { clientId: string; broker: string }[] }>(`/api/clients?client_id=${id}`)).body.clients[0]?.broker;
    for (let i = 0; i < 60 && idOn.size < 4; i++) {
      const id = `demo5-${i}`;
      const c = await connectClient(s.port, { clientId: id, protocolVersion: 5 });
      const broker = await placed(id);
      await c.endAsync();
      // Two ids per leaf broker: one for MQTT.js, one for the mosquitto clients.
      for (const role of ['js', 'cli']) {
        const key = `${role}@${broker}`;
        if (broker !== 'demo-1' && !idOn.has(key)) { idOn.set(key, id); break; }
      }
    }
  });
  test.after.each(endClients);
  test.after(async () => { await s?.stop(); });

  test('the demo runs real Mosquitto brokers and its start-up line says MQTT 3.1, 3.1.1 and 5.0', () => {
    const ready = logLines(s.output()).find((l) => l.engine === 'mosquitto' && typeof l.mqtt === 'string');
    assert.ok(ready, `a demo start-up line with engine mosquitto:\n${s.output()}`);
    assert.is(ready.mqtt, 'MQTT 3.1, 3.1.1 and 5.0');
    assert.match(ready.msg, /MQTT 3\.1, 3\.1\.1 and 5\.0/);
    assert.equal(ready.brokers, [0, 1, 2].map((i) => `demo-${i + 1}=127.0.0.1:${firstPort + i}`));
    const pids = brokerPids(s.output());
    assert.equal([...pids.keys()].sort(), ['demo-1', 'demo-2', 'demo-3']);
    for (const pid of pids.values()) {
      assert.ok(alive(pid));
      assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /mosquitto/);
    }
    assert.ok(idOn.get('js@demo-2') && idOn.get('js@demo-3') && idOn.get('cli@demo-2') && idOn.get('cli@demo-3'), `ids placed on both leaf brokers: ${[...idOn]}`);
  });

  test('MQTT.js protocolVersion 5: subscriber on demo-2, publisher on demo-3, user properties and friends arrive once', async () => {
    const sub = await connectClient(s.port, { clientId: idOn.get('js@demo-2')!, protocolVersion: 5 });
    const pub = await connectClient(s.port, { clientId: idOn.get('js@demo-3')!, protocolVersion: 5 });
    clients.push(sub, pub);
    const listed = (await s.admin<{ clients: { clientId: string; broker: string }[] }>('/api/clients')).body.clients;
    assert.is(listed.find((c) => c.clientId === idOn.get('js@demo-2'))!.broker, 'demo-2');
    assert.is(listed.find((c) => c.clientId === idOn.get('js@demo-3'))!.broker, 'demo-3');
    const got: { topic: string; payload: string; properties: Record<string, unknown> | undefined }[] = [];
    sub.on('message', (topic, payload, packet) => got.push({ topic, payload: String(payload), properties: packet.properties as Record<string, unknown> | undefined }));
    await sub.subscribeAsync('demo5/#', { qos: 1 });
    for (const qos of [0, 1] as const) {
      await pub.publishAsync(`demo5/q${qos}`, `across-${qos}`, {
        qos, properties: { userProperties: { trace: `t-${qos}`, site: 'lab' }, responseTopic: 'demo5/reply', correlationData: Buffer.from('c-1'), messageExpiryInterval: 120 },
      });
    }
    assert.ok(await waitFor(() => got.length >= 2, 5000), `both messages arrived: ${JSON.stringify(got)}`);
    await sleep(500); // any duplicate would arrive by now
    assert.equal(got.map((g) => `${g.topic}=${g.payload}`).sort(), ['demo5/q0=across-0', 'demo5/q1=across-1']);
    for (const g of got) {
      const qos = g.topic.slice(-1);
      assert.equal({ ...(g.properties?.userProperties as object) }, { trace: `t-${qos}`, site: 'lab' });
      assert.is(g.properties?.responseTopic, 'demo5/reply');
      assert.is(String(g.properties?.correlationData), 'c-1');
      const expiry = g.properties?.messageExpiryInterval as number;
      assert.ok(expiry > 100 && expiry <= 120, `message expiry survives the bridges: ${expiry}`);
    }
  });

  test('mosquitto_pub -V 5 on demo-3 reaches mosquitto_sub -V 5 on demo-2, with its user property', async () => {
    const subId = idOn.get('cli@demo-2')!;
    const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(s.port), '-V', '5', '-i', subId, '-t', 'cli5/#', '-q', '1',
      '-C', '1', '-W', '10', '-F', '%t %p %P']);
    let out = '';
    sub.stdout.on('data', (d) => { out += d; });
    const exited = new Promise<number | null>((resolve) => sub.on('exit', (code) => resolve(code)));
    let placedOn: string | undefined;
    for (let i = 0; i < 100 && !placedOn; i++) {
      placedOn = (await s.admin<{ clients: { clientId: string; broker: string }[] }>(`/api/clients?client_id=${subId}`)).body.clients[0]?.broker;
      if (!placedOn) await sleep(20);
    }
    assert.is(placedOn, 'demo-2', 'mosquitto_sub placed on demo-2');
    await sleep(300); // the SUBSCRIBE follows the CONNECT
    const pub = spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(s.port), '-V', '5', '-i', idOn.get('cli@demo-3')!, '-t', 'cli5/hello',
      '-m', 'world', '-q', '1', '-D', 'publish', 'user-property', 'from', 'mosquitto_pub'], { encoding: 'utf8', timeout: 10_000 });
    assert.is(pub.status, 0, pub.stderr);
    assert.is(await exited, 0, `mosquitto_sub got: ${out}`);
    assert.is(out.trim(), 'cli5/hello world from:mosquitto_pub');
  });

  test('MQTT 3.1 and 3.1.1 publishers reach an MQTT 5 subscriber on another broker', async () => {
    const sub = await connectClient(s.port, { clientId: idOn.get('js@demo-2')!, protocolVersion: 5, clean: true });
    clients.push(sub);
    const got: string[] = [];
    sub.on('message', (t, p) => got.push(`${t}=${p}`));
    await sub.subscribeAsync('old/#', { qos: 1 });
    for (const v of ['mqttv31', 'mqttv311']) {
      const pub = spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(s.port), '-V', v, '-i', idOn.get('cli@demo-3')!, '-t', `old/${v}`, '-m', v, '-q', '1'],
        { encoding: 'utf8', timeout: 10_000 });
      assert.is(pub.status, 0, pub.stderr);
    }
    assert.ok(await waitFor(() => got.length >= 2, 5000), JSON.stringify(got));
    assert.equal(got.sort(), ['old/mqttv311=mqttv311', 'old/mqttv31=mqttv31']);
  });

  test('a demo broker that dies is logged, restarted and bridged again', async () => {
    const before = brokerPids(s.output()).get('demo-3')!;
    process.kill(before, 'SIGKILL');
    assert.ok(await waitFor(() => logLines(s.output()).some((l) => l.msg === 'demo broker restarted' && l.broker === 'demo-3'), 10_000), s.output());
    const died = logLines(s.output()).find((l) => l.msg === 'demo broker exited unexpectedly; restarting');
    assert.ok(died && died.broker === 'demo-3' && died.signal === 'SIGKILL' && died.level === 50, JSON.stringify(died));
    const after = brokerPids(s.output()).get('demo-3')!;
    assert.is.not(after, before);
    assert.ok(alive(after));
    // Bridged again: demo-3 -> demo-1 -> demo-2.
    const sub = await connectClient(s.port, { clientId: idOn.get('js@demo-2')!, protocolVersion: 5 });
    const pub = await connectClient(s.port, { clientId: idOn.get('js@demo-3')!, protocolVersion: 5 });
    clients.push(sub, pub);
    const got: string[] = [];
    sub.on('message', (t, p) => got.push(`${t}=${p}`));
    await sub.subscribeAsync('again/#', { qos: 1 });
    await pub.publishAsync('again/x', 'back', { qos: 1 });
    assert.ok(await waitFor(() => got.length >= 1, 5000), 'delivered across the restarted broker');
    assert.equal(got, ['again/x=back']);
  });

  test('SIGTERM stops Sluice and its brokers: no mosquitto left, temp dir removed', async () => {
    const t = await startSluice(await demoConfig(2));
    const pids = [...brokerPids(t.output()).values()];
    const dir = logLines(t.output()).find((l) => typeof l.dir === 'string')?.dir as string;
    assert.is(pids.length, 2);
    assert.ok(dir && existsSync(dir), 'the generated configs live in a temp dir while running');
    await t.stop();
    assert.equal(await waitGone(pids, 3000), [], 'no broker left');
    assert.not.ok(existsSync(dir), 'temp dir removed');
    assert.match(t.output(), /sluice stopped/);
  });

  test('SIGKILL of Sluice: the kernel ends the brokers too (setpriv --pdeathsig)', async () => {
    const t = await startSluice(await demoConfig(2));
    const ready = logLines(t.output()).find((l) => l.engine === 'mosquitto' && 'pdeathsig' in l)!;
    const pids = [...brokerPids(t.output()).values()];
    t.process.kill('SIGKILL');
    await once(t.process, 'exit');
    rmSync(ready.dir as string, { recursive: true, force: true }); // a hard-killed Sluice cannot clean up
    const left = await waitGone(pids, 3000);
    for (const pid of left) process.kill(pid, 'SIGKILL'); // never leave them behind, pass or fail
    assert.ok(ready.pdeathsig, 'setpriv --pdeathsig is usable here');
    assert.equal(left, [], 'no broker left after a hard kill');
    await t.stop();
  });

  test('a start that fails after the brokers started leaves no broker behind', async () => {
    const port = await freePort();
    const holder = createServer().listen(port, '127.0.0.1');
    await once(holder, 'listening');
    const dir = mkdtempSync(join(tmpdir(), 'sluice-demo-fail-'));
    const file = join(dir, 'sluice.yaml');
    // The admin port is taken: it binds after the demo brokers and the workers started.
    writeFileSync(file, stringify({ listeners: [{ bind: `127.0.0.1:${await freePort()}` }], admin: { bind: `127.0.0.1:${port}` }, ...(await demoConfig(2)) }));
    const child = spawn(process.execPath, [cli, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const [status] = await once(child, 'exit');
    holder.close();
    rmSync(dir, { recursive: true, force: true });
    assert.is(status, 1, out);
    assert.match(out, /could not start/);
    const pids = [...brokerPids(out).values()];
    assert.is(pids.length, 2, out);
    assert.equal(await waitGone(pids, 3000), []);
  });

  test.run();
}
