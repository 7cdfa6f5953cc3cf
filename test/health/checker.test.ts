// HealthChecker with a scripted probe: rise/fall decide the broker table's flags, flips are counted and
// logged, each broker is probed one probe at a time, and stop() ends the checks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { HealthChecker, type ProbeFn } from '../../src/health/checker.ts';
import { BrokerTable } from '../../src/brokers/broker-table.ts';
import type { BrokerConfig, MqttHealthConfig } from '../../src/config/resolved.ts';
import type { CounterName } from '../../src/metrics/counters.ts';

const brokers: BrokerConfig[] = ['a', 'b'].map((name, i) => ({ name, host: '127.0.0.1', port: 2000 + i, address: `127.0.0.1:${2000 + i}`, weight: 1, proxyProtocol: 'none', drain: false }));
const cfg: MqttHealthConfig = { intervalMs: 15, timeoutMs: 10, rise: 2, fall: 3, clientIdPrefix: 'hc-', username: 'u', passwordFile: '/x', protocolVersion: 4 };

function harness(answer: (port: number) => boolean) {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, new Writable({ write(chunk, _e, done) { lines.push(JSON.parse(String(chunk))); done(); } }));
  const counts: Partial<Record<CounterName, number>> = {};
  const counters = { add(name: CounterName, n = 1) { counts[name] = (counts[name] ?? 0) + n; } };
  const table = new BrokerTable(BrokerTable.allocate(4));
  const inFlight = new Map<number, number>();
  let maxInFlight = 0;
  const calls: { port: number; clientId: string; password?: string }[] = [];
  const probe: ProbeFn = async (_host, port, o) => {
    calls.push({ port, clientId: o.clientId, password: o.password?.toString() });
    inFlight.set(port, (inFlight.get(port) ?? 0) + 1);
    maxInFlight = Math.max(maxInFlight, inFlight.get(port)!);
    await new Promise((r) => setTimeout(r, 5));
    inFlight.set(port, inFlight.get(port)! - 1);
    return answer(port) ? { ok: true, ms: 5 } : { ok: false, reason: 'timeout', detail: 'no CONNACK within 10ms', ms: 10 };
  };
  const checker = new HealthChecker(brokers, table, cfg, Buffer.from('pw'), log, counters, probe);
  return { checker, table, lines, counts, calls, maxInFlight: () => maxInFlight };
}

async function until(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a failing broker goes down after `fall` probes, comes back after `rise`; the other is untouched', async () => {
  let bDown = true;
  const h = harness((port) => port === 2000 || !bDown);
  h.checker.start();
  await until(() => !h.table.isHealthy(1), 'b marked down');
  assert.is(h.table.isHealthy(0), true);
  const b = h.checker.health(1)!;
  assert.is(b.state, 'down');
  assert.ok(b.failures >= cfg.fall, `${b.failures} failures before the flip`);
  assert.equal(b.last && { ok: b.last.ok, reason: b.last.reason }, { ok: false, reason: 'timeout' });
  assert.is(h.counts.broker_marked_down, 1);
  const down = h.lines.find((l) => l.msg === 'broker marked down: no new clients are placed on it');
  assert.equal(down && [down.broker, down.reason, down.level], ['b', 'timeout', 40]);
  bDown = false;
  await until(() => h.table.isHealthy(1), 'b marked up');
  assert.is(h.counts.broker_marked_up, 1);
  assert.ok(h.lines.some((l) => l.msg === 'broker marked up: new clients are placed on it again' && l.broker === 'b'));
  await h.checker.stop();
  const calls = h.calls.length;
  await new Promise((r) => setTimeout(r, 60));
  assert.is(h.calls.length, calls, 'no probe after stop()');
  assert.is(h.maxInFlight(), 1, 'one probe at a time per broker');
  assert.is(h.counts.health_checks, calls);
});

test('probes carry the configured credentials and a per-process client id; the password is never logged', async () => {
  const h = harness(() => false);
  h.checker.start();
  await until(() => !h.table.isHealthy(0) && !h.table.isHealthy(1), 'both down');
  await h.checker.stop();
  assert.match(h.calls[0].clientId, /^hc-[0-9a-f]{8}-[01]$/);
  assert.is(new Set(h.calls.map((c) => c.clientId)).size, 2, 'one id per broker');
  assert.is(h.calls[0].password, 'pw');
  assert.not.match(JSON.stringify(h.lines), /"pw"/);
  assert.ok((h.counts.health_check_failures ?? 0) >= 2 * cfg.fall);
});

test('a new broker set: a kept broker keeps its state, a removed one is no longer probed, a new one is probed and starts up', async () => {
  const h = harness((port) => port !== 2001);
  h.checker.start();
  await until(() => !h.table.isHealthy(1), 'b marked down');
  const c: BrokerConfig = { ...brokers[0], name: 'c', port: 2002, address: '127.0.0.1:2002' };
  h.checker.setBrokers([brokers[0], { ...brokers[1], weight: 0, removed: true }, c]);
  assert.is(h.checker.health(1), undefined, 'a removed slot has no health');
  await until(() => h.calls.some((x) => x.port === 2002), 'c probed');
  const probesOfB = h.calls.filter((x) => x.port === 2001).length;
  await new Promise((r) => setTimeout(r, 60));
  assert.is(h.calls.filter((x) => x.port === 2001).length, probesOfB, 'b is no longer probed');
  assert.ok(h.checker.health(0)!.checks > 1, 'a keeps its history');
  assert.is(h.checker.health(2)!.state, 'up');
  await h.checker.stop();
});

test.run();
