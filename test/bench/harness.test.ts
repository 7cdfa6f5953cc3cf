// Unit tests of the bench harness's own logic: argument parsing, result math, HAProxy configs, report.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseBenchArgs, UsageError } from '../../bench/lib/args.ts';
import { formatNumber, percentile, ratio, stickyViolations, summarize } from '../../bench/lib/stats.ts';
import { haproxyConfig } from '../../bench/lib/haproxy.ts';
import { ratioColumns, renderGoals, renderHtml, renderReport, renderScaling, renderTable, type BenchResult, type Row } from '../../bench/lib/report.ts';
import { goalsFor, goalText, judge, ratioRange, verdict, goals } from '../../bench/lib/goals.ts';
import { cpuPlan } from '../../bench/lib/pinning.ts';
import { handshakeFigures, idleFigures, iotFigures, streamFigures } from '../../bench/lib/workloads.ts';

test('args: defaults, --quick, lists and bad values', () => {
  const d = parseBenchArgs([]);
  assert.is(d.repeats, 3);
  assert.is(d.seconds, 3);
  assert.equal(d.payloadSizes, [64, 1024, 16384]);
  assert.equal(d.targets, ['direct', 'c-splice', 'haproxy-tcp', 'haproxy-mqtt', 'sluice-js', 'sluice-splice', 'haproxy-tls', 'node-tls', 'sluice-tls']);
  const q = parseBenchArgs(['--quick']);
  assert.is(q.repeats, 1);
  assert.is(q.seconds, 1);
  assert.equal(q.payloadSizes, [64, 16384]);
  const c = parseBenchArgs(['--targets', 'direct,sluice-js', '--workloads', 'connrate', '--repeats', '5', '--idle-conns', '1000000', '--no-pin']);
  assert.equal(c.targets, ['direct', 'sluice-js']);
  assert.equal(c.workloads, ['connrate']);
  assert.is(c.repeats, 5);
  assert.is(c.idleConns, 1_000_000);
  assert.is(c.pin, false);
  assert.throws(() => parseBenchArgs(['--targets', 'nginx']), (e: Error) => e instanceof UsageError && /unknown "nginx"/.test(e.message));
  assert.throws(() => parseBenchArgs(['--repeats', '1.5']), /whole number/);
  assert.throws(() => parseBenchArgs(['--seconds', '0']), /from 0.2/);
  assert.throws(() => parseBenchArgs(['--bogus']));
});

test('args: the issue shapes by default (64 in flight, 8000 idle, small writes, iot), worker lists', () => {
  const d = parseBenchArgs([]);
  assert.is(d.connrateInflight, 64);
  assert.is(d.idleConns, 8000);
  assert.is(parseBenchArgs(['--quick']).idleConns, 2000);
  assert.equal([d.smallWritesSize, d.smallWritesPerWrite, d.smallWritesConns], [64, 16, 8]);
  assert.equal([d.iotConns, d.iotRate, d.iotSize], [2000, 20_000, 100]);
  assert.equal(d.workers, [1]);
  assert.equal(d.workloads, ['throughput', 'small-writes', 'connrate', 'latency', 'iot', 'idle', 'mosquitto',
    'tls-handshakes', 'tls-throughput', 'tls-idle', 'ws-throughput']);
  assert.equal([d.tlsHandshakeThreads, d.tlsIdleConns, parseBenchArgs(['--quick']).tlsIdleConns], [16, 4000, 1000]);
  assert.equal(parseBenchArgs(['--tls-threads', '4', '--tls-idle-conns', '50']).tlsHandshakeThreads, 4);
  assert.throws(() => parseBenchArgs(['--tls-threads', '0']), /--tls-threads/);
  const o = parseBenchArgs(['--workers', '1,2', '--small-writes', '128,8,4', '--iot', '500,5000,64', '--inflight', '16']);
  assert.equal(o.workers, [1, 2]);
  assert.equal([o.smallWritesSize, o.smallWritesPerWrite, o.smallWritesConns], [128, 8, 4]);
  assert.equal([o.iotConns, o.iotRate, o.iotSize], [500, 5000, 64]);
  assert.is(o.connrateInflight, 16);
  assert.equal(parseBenchArgs(['--workers', '2']).workers, [2]);
  assert.throws(() => parseBenchArgs(['--workers', '1,1']), /listed twice/);
  assert.throws(() => parseBenchArgs(['--workers', '1,x']), /--workers/);
  assert.throws(() => parseBenchArgs(['--iot', '2000,20000']), /three numbers/);
  assert.throws(() => parseBenchArgs(['--iot', '2000,20000,4']), /--iot: expected a number from 8/);
  assert.throws(() => parseBenchArgs(['--iot', '30000,20000,100']), /--iot/); // more than the fd limit allows
  assert.throws(() => parseBenchArgs(['--small-writes', '64,0,8']), /--small-writes/);
});

test('pinning: one worker against the load side on two cores; two workers unpinned; --no-pin', () => {
  assert.equal(cpuPlan(1, 2, true), { balancer: '0', load: '1', label: 'balancer on CPU 0; load generator and backends on CPU 1 (taskset)' });
  assert.equal(cpuPlan(2, 2, true).balancer, undefined);
  assert.equal(cpuPlan(2, 2, true).load, undefined);
  assert.match(cpuPlan(2, 2, true).label, /2 balancer threads on 2 cores/);
  assert.equal(cpuPlan(2, 8, true), { balancer: '0-1', load: '2-7', label: 'balancer on CPU 0-1; load generator and backends on CPU 2-7 (taskset)' });
  assert.equal(cpuPlan(1, 2, false).balancer, undefined);
  assert.equal(cpuPlan(1, 1, true).balancer, undefined);
});

test('workload math: stream, iot and idle figures', () => {
  const port = (bytes: number, publishes: number) => ({ port: 1, connections: 8, bytes, packets: publishes, publishes });
  const a = { ports: [port(1e9, 1e6), port(0, 0)], timeNs: 1e9 };
  const b = { ports: [port(2e9, 3e6), port(1e9, 1e6)], timeNs: 3e9 };
  assert.equal(streamFigures(a, b, 0.5), { mbps: 1000, msgps: 1.5e6, cpuPerGB: 0.25 });
  assert.is(streamFigures(a, b, undefined).cpuPerGB, undefined);
  const r = { type: 'latency', sent: 60_000, received: 59_990, seconds: 3, samples: 59_990, connect_errors: 0, skipped: 10 };
  const f = iotFigures(r, 0.29995, { p50: 100, p99: 400, p999: 900 });
  assert.is(f.cpuUsPerMsg!.toFixed(3), '5.000'); // 0.29995 CPU-s / 59,990 messages
  assert.is(f.delivered, 59_990);
  assert.is(f.lost, 20, 'not echoed (10) plus skipped at the sender (10)');
  assert.is(f.p99us, 400);
  assert.is(f.msgps!.toFixed(0), '19997');
  assert.is(iotFigures({ ...r, received: 0 }, 1, {}).cpuUsPerMsg, undefined);
  assert.is(iotFigures(r, undefined, {}).cpuUsPerMsg, undefined, 'direct: no balancer process');
  const idle = idleFigures(8000, { rssBefore: 50 << 20, rssAfter: (50 << 20) + 8000 * 900, heapBefore: 30e6, heapAfter: 30e6 + 8000 * 400 }, 0);
  assert.is(idle.bytesPerConn, 900);
  assert.is(idle.heapPerConn, 400);
  assert.is(idleFigures(10, { rssBefore: 0, rssAfter: 10 }, 0).heapPerConn, undefined, 'no heap reading for HAProxy');
});

test('workload math: TLS handshakes per second, CPU per handshake, share resumed', () => {
  const full = handshakeFigures({ handshakes: 6000, resumed: 0, errors: 2, seconds: 3 }, 2.4, false);
  assert.equal(full, { hsps: 2000, cpuUsPerHs: 400, resumedPct: undefined, errors: 2 });
  const resumed = handshakeFigures({ handshakes: 900, resumed: 450, errors: 0, seconds: 3 }, undefined, true);
  assert.equal(resumed, { hsps: 300, cpuUsPerHs: undefined, resumedPct: 50, errors: 0 });
  assert.is(handshakeFigures({ handshakes: 0, resumed: 0, errors: 9, seconds: 3 }, 1, true).cpuUsPerHs, undefined);
});

test('goals: TLS rows are judged for sluice-tls against haproxy-tls', () => {
  const rows = [row('tls-handshakes', 'full', 'hsps', { 'haproxy-tls': [2000, 2100], 'sluice-tls': [2400, 2500] }, 1, 'higher', 'handshakes/s')];
  const judged = judge(rows);
  assert.equal(judged.map((g) => [g.target, g.anchor, g.verdict]), [['sluice-tls', 'haproxy-tls', 'met']]);
  assert.is(goalText(goalsFor(rows[0])[0], 'handshakes/s', true), 'tls ≥ 1.0x haproxy-tls');
});

test('goals: verdicts with the spread, ratio ranges, which rows carry goals', () => {
  assert.is(verdict('>=', 1.2, 1.5, 1.3, 1.7), 'met');
  assert.is(verdict('>=', 1.2, 1.0, 0.9, 1.1), 'missed');
  assert.is(verdict('>=', 1.2, 1.25, 1.1, 1.4), 'within spread, median meets');
  assert.is(verdict('>=', 1.2, 1.15, 1.1, 1.4), 'within spread, median misses');
  assert.is(verdict('<=', 0.8, 0.5, 0.4, 0.7), 'met');
  assert.is(verdict('<=', 0.8, 0.9, 0.85, 1.0), 'missed');
  assert.is(verdict('<=', 0.8, 0.75, 0.6, 0.9), 'within spread, median meets');
  assert.equal(ratioRange(summarize([10, 12, 14]), summarize([4, 5, 6])), { median: 12 / 5, lo: 10 / 6, hi: 14 / 4 });
  assert.is(ratioRange(summarize([1]), summarize([0])), undefined);
  assert.equal(goalsFor({ name: 'connrate', variant: '64 in flight', metric: 'connps', workers: 1 }).map((g) => g.anchor), ['haproxy-mqtt']);
  assert.equal(goalsFor({ name: 'connrate', variant: '64 in flight', metric: 'connps', workers: 2 }), [], 'goals are 1-worker rows');
  assert.equal(goalsFor({ name: 'throughput', variant: '64 B', metric: 'mbps' }), []);
  assert.equal(goalsFor({ name: 'throughput', variant: '16 KiB', metric: 'mbps' }).map((g) => g.anchor), ['c-splice']);
  assert.equal(goalsFor({ name: 'small-writes', variant: 'x', metric: 'mbps' }).map((g) => g.anchor), ['haproxy-tcp', 'sluice-js']);
  const texts = goals.map((g) => goalText(g, 'B/conn', true));
  assert.ok(texts.includes('≥ 1.2x haproxy-mqtt'));
  assert.ok(texts.includes('≤ 1024 B/conn'));
  assert.ok(texts.includes('splice ≥ 1.0x js'));
  assert.ok(texts.includes('≤ 0.8x haproxy-mqtt'));
});

const row = (name: string, variant: string, metric: string, samples: Row['samples'], workers = 1, better: Row['better'] = 'higher', unit = ''): Row =>
  ({ workload: `${name} ${variant}`, name, variant, workers, metric, unit, better, samples });

test('goals: judged per Sluice target against its anchor, or against an absolute bound', () => {
  const rows = [
    row('connrate', '64 in flight', 'connps', { 'haproxy-mqtt': [10_000, 11_000, 9000], 'sluice-js': [2500, 2600, 2400], 'sluice-splice': [14_000, 15_000, 14_500] }),
    row('idle', '8000 conns', 'bytesPerConn', { 'haproxy-mqtt': [3600], 'sluice-js': [22_000], 'sluice-splice': [900] }, 1, 'lower', 'B/conn'),
    row('connrate', '64 in flight', 'connps', { 'haproxy-mqtt': [1], 'sluice-js': [100] }, 2),
  ];
  const judged = judge(rows);
  assert.equal(judged.map((g) => [g.workload, g.target, g.verdict]), [
    ['connrate', 'sluice-js', 'missed'],
    ['connrate', 'sluice-splice', 'met'], // 14,000 / 11,000 = 1.27 at worst
    ['idle', 'sluice-js', 'missed'],
    ['idle', 'sluice-splice', 'met'],
  ]);
  assert.is(judged[1].median, 14_500 / 10_000);
  const result: BenchResult = { meta: {}, skipped: {}, targets: ['haproxy-mqtt', 'sluice-js', 'sluice-splice'], rows };
  const text = renderGoals(result);
  assert.match(text, /connrate 64 in flight\s+connps\s+sluice-splice\s+haproxy-mqtt\s+1\.45x\s+1\.27-1\.67x\s+≥ 1\.2x\s+met/);
  assert.match(text, /idle 8000 conns\s+bytesPerConn\s+sluice-splice\s+-\s+900 B\/conn\s+900-900\s+≤ 1024 B\/conn\s+met/);
  assert.match(text, /2 of 4 goal rows met beyond the spread/);
  // The main table names each row's goal next to its ratio columns.
  assert.match(renderTable(result), /≥ 1\.2x haproxy-mqtt/);
  assert.match(renderTable(result), /≤ 1024 B\/conn/);
});

test('report: scaling from 1 to 2 workers per target', () => {
  const result: BenchResult = {
    meta: {}, skipped: {}, targets: ['haproxy-mqtt', 'sluice-splice'],
    rows: [
      row('connrate', '64 in flight', 'connps', { 'haproxy-mqtt': [10_000], 'sluice-splice': [12_000] }, 1),
      row('connrate', '64 in flight', 'p99us', { 'haproxy-mqtt': [5000], 'sluice-splice': [4000] }, 1, 'lower'),
      row('connrate', '64 in flight', 'connps', { 'haproxy-mqtt': [15_000], 'sluice-splice': [21_000] }, 2),
      row('connrate', '64 in flight', 'p99us', { 'haproxy-mqtt': [4000], 'sluice-splice': [3000] }, 2, 'lower'),
    ],
  };
  const text = renderScaling(result);
  assert.match(text, /connrate 64 in flight\s+connps\s+2\s+1\.50x\s+1\.75x/);
  assert.not.match(text, /p99us/, 'latency is not a scaling figure');
  assert.is(renderScaling({ ...result, rows: result.rows.slice(0, 2) }), '', 'one worker count: no scaling table');
  assert.match(renderReport(result), /scaling \(median at N workers/);
});

test('stats: median, spread, ratio, percentile', () => {
  assert.equal(summarize([3, 1, 2]), { median: 2, min: 1, max: 3, spreadPct: 100, n: 3 });
  assert.is(summarize([4, 1, 3, 2])!.median, 2.5);
  assert.is(summarize([NaN]), undefined);
  assert.is(ratio(summarize([10]), summarize([4])), 2.5);
  assert.is(ratio(summarize([10]), summarize([0])), undefined);
  assert.is(ratio(undefined, summarize([1])), undefined);
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.is(percentile(sorted, 50), 50);
  assert.is(percentile(sorted, 99), 99);
  assert.is(percentile(sorted, 100), 100);
  assert.is(percentile([], 50), undefined);
});

test('stats: sticky violations count ids seen on more than one backend', () => {
  assert.is(stickyViolations([['a', 'b'], ['c'], ['d']]), 0);
  assert.is(stickyViolations([['a', 'b', 'a'], ['a'], ['b', 'c']]), 2);
  assert.is(stickyViolations([['x'], ['x'], ['x']]), 1);
});

test('stats: number formatting', () => {
  assert.is(formatNumber(1_234_567), '1.23M');
  assert.is(formatNumber(45_678), '45.7k');
  assert.is(formatNumber(512), '512');
  assert.is(formatNumber(3.14159), '3.14');
  assert.is(formatNumber(undefined), '-');
});

test('haproxy configs: splice TCP and MQTT-aware sticky', () => {
  const tcp = haproxyConfig({ mode: 'tcp', listenPort: 21000, backendPorts: [1, 2, 3], threads: 2, statsSocket: '/tmp/s.sock', maxconn: 5000 });
  assert.match(tcp, /nbthread 2/);
  assert.match(tcp, /option splice-auto/);
  assert.match(tcp, /bind 127\.0\.0\.1:21000/);
  assert.is(tcp.match(/server b\d 127\.0\.0\.1:\d/g)!.length, 3);
  assert.not.match(tcp, /mqtt/);
  assert.not.match(tcp, /maxpipes/);
  assert.match(haproxyConfig({ mode: 'tcp', listenPort: 21000, backendPorts: [1], threads: 1, statsSocket: '/tmp/s.sock', maxconn: 9000, maxpipes: 512 }), /maxpipes 512/);
  const mqtt = haproxyConfig({ mode: 'mqtt', listenPort: 21000, backendPorts: [1, 2, 3], threads: 1, statsSocket: '/tmp/s.sock', maxconn: 5000 });
  assert.match(mqtt, /tcp-request inspect-delay/);
  assert.match(mqtt, /reject unless \{ req\.payload\(0,0\),mqtt_is_valid \}/);
  assert.match(mqtt, /stick on req\.payload\(0,0\),mqtt_field_value\(connect,client_identifier\)/);
  assert.match(mqtt, /stick-table type string/);
  assert.not.match(mqtt, /ssl/);
  const tls = haproxyConfig({ mode: 'mqtt', listenPort: 21000, backendPorts: [1], threads: 1, statsSocket: '/tmp/s.sock', maxconn: 5000, tlsCrt: '/tmp/c.pem' });
  assert.match(tls, /bind 127\.0\.0\.1:21000 ssl crt \/tmp\/c\.pem\n/);
  assert.match(tls, /mqtt_is_valid/);
});

test('report: ratio columns, table and html carry medians and ratios', () => {
  const result: BenchResult = {
    meta: { date: 'd' }, skipped: { 'sluice-splice': 'no addon' },
    targets: ['direct', 'haproxy-tcp', 'haproxy-mqtt', 'sluice-js'],
    rows: [row('throughput', '64 B', 'mbps', { direct: [100, 110, 90], 'haproxy-tcp': [50], 'haproxy-mqtt': [40], 'sluice-js': [60, 60, 60] }, 1, 'higher', 'MB/s')],
  };
  assert.equal(ratioColumns(result.targets).map((c) => c.label), ['js/haproxy-mqtt', 'js/haproxy-tcp', 'js/direct']);
  assert.equal(ratioColumns(['haproxy-tcp', 'sluice-js', 'sluice-splice']).map((c) => c.label), ['js/haproxy-tcp', 'splice/haproxy-tcp', 'splice/js']);
  // TLS targets are compared with each other only.
  assert.equal(ratioColumns(['haproxy-mqtt', 'sluice-js', 'haproxy-tls', 'sluice-tls']).map((c) => c.label), ['js/haproxy-mqtt', 'tls/haproxy-tls']);
  // The bare Node TLS proxy is read against HAProxy, and Sluice against it.
  assert.equal(ratioColumns(['haproxy-tls', 'node-tls', 'sluice-tls']).map((c) => c.label), ['tls/haproxy-tls', 'node-tls/haproxy-tls', 'tls/node-tls']);
  const table = renderTable(result);
  assert.match(table, /100 ±20%/);
  assert.match(table, /1\.50\s+1\.20\s+0\.60/);
  assert.match(table, /skipped sluice-splice: no addon/);
  const html = renderHtml(result);
  assert.match(html, /<svg/);
  assert.is((html.match(/<rect/g) ?? []).length, 4);
});

test.run();
