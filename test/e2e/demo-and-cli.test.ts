// End to end: the CLI (help, check, bad config), the aedes demo cluster (start-up line, routing across
// brokers), worker replacement. The Mosquitto demo cluster has its own file (demo-mosquitto.test.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { freePort, freePortBlock } from '../helpers/ports.ts';
import { connectClient } from '../helpers/mqtt.ts';

const launcher = new URL('../../scripts/sluice.mjs', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
let demo: SluiceProcess | undefined;

test.after(async () => { await demo?.stop(); });

function sluice(...args: string[]) {
  return spawnSync(process.execPath, [launcher, ...args], { encoding: 'utf8', timeout: 20_000 });
}

test('--help prints usage and exits 0', () => {
  const r = sluice('--help');
  assert.is(r.status, 0);
  assert.match(r.stdout, /sluice check --config FILE/);
});

test('check prints the plan for a good config', () => {
  const file = join(dir, 'good.yaml');
  writeFileSync(file, 'workers: 2\nbrokers:\n  - { name: a, address: 127.0.0.1:1884 }\n  - { name: b, address: 127.0.0.1:1885, weight: 0 }\n');
  const r = sluice('check', '--config', file);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /OK/);
  assert.match(r.stdout, /broker b: 127\.0\.0\.1:1885 weight 0 \(weight 0: never chosen/);
  assert.match(r.stdout, /balance: sticky/);
});

test('check names the demo engine and what it serves', () => {
  const aedes = join(dir, 'demo-aedes.yaml');
  writeFileSync(aedes, 'demo: { brokers: 2, first_port: 21884, engine: aedes }\n');
  const r = sluice('check', '--config', aedes);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /demo cluster: 2 brokers on 127\.0\.0\.1:21884-21885, engine aedes \(in-process\): MQTT 3\.1 and 3\.1\.1 only; install mosquitto/);
  const bad = join(dir, 'demo-bad.yaml');
  writeFileSync(bad, 'demo: { engine: nats, colour: blue }\n');
  const b = sluice('check', '--config', bad);
  assert.is(b.status, 2);
  assert.match(b.stderr, /demo\.engine: Invalid option: expected one of "auto"\|"mosquitto"\|"aedes"/);
  assert.match(b.stderr, /demo: Unrecognized key: "colour"/);
});

test('a bad config file refuses to start with the key path and reason, exit 2', () => {
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'brokers:\n  - { name: a, address: "no-port" }\nbalance: { strategy: fastest }\n');
  for (const args of [['check', '--config', file], ['--config', file]]) {
    const r = sluice(...args);
    assert.is(r.status, 2);
    assert.match(r.stderr, /SLUICE_ERR_CONFIG/);
    assert.match(r.stderr, /brokers\[0\]\.address: not host:port/);
    assert.match(r.stderr, /balance\.strategy/);
  }
  const missing = sluice('--config', join(dir, 'nope.yaml'));
  assert.is(missing.status, 2);
  assert.match(missing.stderr, /cannot read config file/);
});

// Values that pass a loose schema but break the run: each is refused up front, exit 2, no stack trace.
const billionLaughs = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
  ...'bcdefghi'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(', ')}]`)].join('\n') + '\n';
const refusedConfigs: [name: string, content: string, expected: RegExp][] = [
  ['alias-bomb.yaml', billionLaughs, /alias-bomb\.yaml is invalid:\n {2}\(file\): YAML aliases expand too far/],
  ['oversized.yaml', `brokers: [{ name: a, address: "127.0.0.1:1884" }]\n#${'x'.repeat(2 * 1024 * 1024)}\n`, /oversized\.yaml is invalid:\n {2}\(file\): 2097204 bytes \(2 MiB\) is too large: a config file is at most 1048576 bytes \(1 MiB\)/],
  ['workers-256.yaml', 'workers: 256\nbrokers: [{ name: a, address: "127.0.0.1:1884" }]\n', /workers-256\.yaml is invalid:\n {2}workers: must be a whole number from 1 to 64, or "auto" \(got 256\)/],
  ['timeout-30d.yaml', 'limits: { connect_timeout: 30d }\nbrokers: [{ name: a, address: "127.0.0.1:1884" }]\n', /timeout-30d\.yaml is invalid:\n {2}limits\.connect_timeout: "30d" is too long: .*at most 24d/],
  ['same-listener.yaml', 'listeners: [{ bind: "127.0.0.1:1883" }, { bind: "localhost:1883" }]\nbrokers: [{ name: a, address: "127.0.0.1:1884" }]\n',
    /same-listener\.yaml is invalid:\n {2}listeners\[1\]\.bind: localhost:1883 is the same address as listeners\[0\]\.bind \(127\.0\.0\.1:1883\)/],
];

for (const [name, content, expected] of refusedConfigs) {
  test(`${name}: SLUICE_ERR_CONFIG, exit 2, no stack trace (check and run)`, () => {
    const file = join(dir, name);
    writeFileSync(file, content);
    for (const args of [['check', '--config', file], ['--config', file]]) {
      const r = sluice(...args);
      assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^sluice: SLUICE_ERR_CONFIG: /);
      assert.match(r.stderr, expected);
      assert.not.match(r.stderr, /^ {4}at /m, 'no stack trace');
    }
  });
}

test('a listener that cannot bind makes start fail with exit 1 and a reason', async () => {
  // A plain listener (no SO_REUSEPORT) holds the port, so the workers' reusePort bind is refused.
  const port = await freePort();
  const holder = createServer().listen(port, '127.0.0.1');
  await once(holder, 'listening');
  const file = join(dir, 'inuse.yaml');
  writeFileSync(file, `listeners: [{ bind: "127.0.0.1:${port}" }]\nbrokers: [{ name: a, address: "127.0.0.1:1884" }]\n`);
  const r = await new Promise<{ status: number | null; out: string }>((resolve) => {
    const child = spawn(process.execPath, [launcher, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('exit', (status) => resolve({ status, out }));
  });
  holder.close();
  assert.is(r.status, 1);
  assert.match(r.out, /could not start/);
  assert.match(r.out, /EADDRINUSE/);
});

test('aedes demo cluster: the start-up line says MQTT 3.1 and 3.1.1 only and how to get 5', async () => {
  const firstPort = await freePortBlock(3);
  demo = await startSluice({ workers: 2, demo: { brokers: 3, first_port: firstPort, engine: 'aedes' }, log: { level: 'info' } }, { env: { SLUICE_TEST_HOOKS: '1' } });
  const ready = demo.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((l) => l.engine === 'aedes' && l.mqtt);
  assert.ok(ready, demo.output());
  assert.is(ready.level, 30, 'info');
  assert.is(ready.mqtt, 'MQTT 3.1 and 3.1.1 only; install mosquitto (apt-get install mosquitto) for MQTT 5');
  assert.match(ready.msg, /aedes.*MQTT 3\.1 and 3\.1\.1 only; install mosquitto \(apt-get install mosquitto\) for MQTT 5/);
  assert.equal(ready.brokers, [0, 1, 2].map((i) => `demo-${i + 1}=127.0.0.1:${firstPort + i}`));
});

test('aedes demo cluster: a subscriber and a publisher on different brokers still meet (MQTT 3.1.1)', async () => {
  assert.ok(demo);
  // Pick two client ids the sticky placement puts on different demo brokers.
  const sub = await connectClient(demo.port, { clientId: 'demo-sub' });
  await sub.subscribeAsync('demo/#', { qos: 1 });
  const listed = async () => (await demo!.admin<{ clients: { clientId: string; broker: string }[] }>('/api/clients')).body.clients;
  const subBroker = (await listed()).find((c) => c.clientId === 'demo-sub')!.broker;
  let pub;
  for (let i = 0; i < 30 && !pub; i++) {
    const c = await connectClient(demo.port, { clientId: `demo-pub-${i}` });
    if ((await listed()).find((x) => x.clientId === `demo-pub-${i}`)!.broker !== subBroker) pub = c;
    else await c.endAsync();
  }
  assert.ok(pub, 'found a publisher on another broker');
  const got = new Promise<string>((resolve) => sub.on('message', (t, p) => resolve(`${t}=${p}`)));
  await pub.publishAsync('demo/x', 'across', { qos: 1 });
  assert.is(await got, 'demo/x=across');
  await pub.endAsync();
  await sub.endAsync();
});

test('a worker that dies is replaced and the others keep serving', async () => {
  assert.ok(demo);
  const r = await demo.admin('/debug/crash-worker?id=1', { method: 'POST' });
  assert.is(r.status, 202);
  let health;
  let sawRestart = false;
  let served = 0;
  const resets: string[] = [];
  for (let i = 0; i < 100; i++) {
    // Ready again (every worker listening) once the replacement listens.
    health = await demo.admin<{ workers: { id: number; restarts: number }[] }>('/readyz');
    if (health.body.workers.find((w) => w.id === 1)!.restarts === 1) sawRestart = true;
    if (sawRestart && health.status === 200) break;
    // Meanwhile clients are still served (by worker 2, or the replacement). A connection the kernel had
    // queued on the dying worker's listener is reset with it: that client retries, as a real one would.
    try {
      const c = await connectClient(demo.port, { clientId: `during-restart-${i}` });
      await c.endAsync();
      served++;
    } catch (err) {
      resets.push((err as NodeJS.ErrnoException).code ?? (err as Error).message);
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.ok(sawRestart, 'restart recorded');
  assert.ok(served > 0, `clients were served during the restart (${resets.length} reset: ${resets.join(', ')})`);
  assert.ok(resets.length <= 2, `only connections queued on the dying worker are cut: ${resets.join(', ')}`);
  assert.is(health!.status, 200);
  assert.match(demo.output(), /worker died; replacing it/);
});

test.run();
