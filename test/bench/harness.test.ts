// Unit tests of the bench harness's own logic: argument parsing, result math, HAProxy configs, report.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseBenchArgs, UsageError } from '../../bench/lib/args.ts';
import { formatNumber, percentile, ratio, stickyViolations, summarize } from '../../bench/lib/stats.ts';
import { haproxyConfig } from '../../bench/lib/haproxy.ts';
import { ratioColumns, renderHtml, renderTable, type BenchResult } from '../../bench/lib/report.ts';

test('args: defaults, --quick, lists and bad values', () => {
  const d = parseBenchArgs([]);
  assert.is(d.repeats, 3);
  assert.is(d.seconds, 3);
  assert.equal(d.payloadSizes, [64, 1024, 16384]);
  assert.equal(d.targets, ['direct', 'c-splice', 'haproxy-tcp', 'haproxy-mqtt', 'sluice-js', 'sluice-splice']);
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
  const mqtt = haproxyConfig({ mode: 'mqtt', listenPort: 21000, backendPorts: [1, 2, 3], threads: 1, statsSocket: '/tmp/s.sock', maxconn: 5000 });
  assert.match(mqtt, /tcp-request inspect-delay/);
  assert.match(mqtt, /reject unless \{ req\.payload\(0,0\),mqtt_is_valid \}/);
  assert.match(mqtt, /stick on req\.payload\(0,0\),mqtt_field_value\(connect,client_identifier\)/);
  assert.match(mqtt, /stick-table type string/);
});

test('report: ratio columns, table and html carry medians and ratios', () => {
  const result: BenchResult = {
    meta: { date: 'd' }, skipped: { 'sluice-splice': 'no addon' },
    targets: ['direct', 'haproxy-tcp', 'haproxy-mqtt', 'sluice-js'],
    rows: [{ workload: 'throughput 64 B', metric: 'mbps', unit: 'MB/s', better: 'higher', samples: { direct: [100, 110, 90], 'haproxy-tcp': [50], 'haproxy-mqtt': [40], 'sluice-js': [60, 60, 60] } }],
  };
  assert.equal(ratioColumns(result.targets).map((c) => c.label), ['js/haproxy-mqtt', 'js/haproxy-tcp', 'js/direct']);
  const table = renderTable(result);
  assert.match(table, /100 ±20%/);
  assert.match(table, /1\.50\s+1\.20\s+0\.60/);
  assert.match(table, /skipped sluice-splice: no addon/);
  const html = renderHtml(result);
  assert.match(html, /<svg/);
  assert.is((html.match(/<rect/g) ?? []).length, 4);
});

test.run();
