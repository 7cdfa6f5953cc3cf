// End to end: GET /metrics after known traffic gives exact counts: connections by outcome, per broker
// (live, up, connect failures), bytes, workers, reloads; certificate expiry; process metrics; no client
// id anywhere in it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startMosquittos, type MosquittoCluster } from '../helpers/mosquitto.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { connectBytes, connectClient, rawExchange } from '../helpers/mqtt.ts';
import { waitForStats } from '../helpers/stats.ts';
import { freePort } from '../helpers/ports.ts';
import { makeTestCerts, type TestCerts } from '../helpers/certs.ts';

let cluster: MosquittoCluster;
let sluice: SluiceProcess;
let certs: TestCerts;
let tlsPort = 0;

test.before(async () => {
  cluster = await startMosquittos(2);
  certs = makeTestCerts();
  const [plain, dead] = [await freePort(), await freePort()];
  tlsPort = await freePort();
  sluice = await startSluice({
    workers: 2,
    listeners: [{ bind: `127.0.0.1:${plain}` }, { bind: `127.0.0.1:${tlsPort}`, protocol: 'mqtts', tls: { cert: certs.server.cert, key: certs.server.key } }],
    // Round robin over [dead, m1, m2]: every third placement tries the dead broker first.
    brokers: [{ name: 'dead', address: `127.0.0.1:${dead}` }, ...cluster.brokers.map((b) => ({ name: b.name, address: b.address }))],
    balance: { strategy: 'round-robin' },
    log: { level: 'warn' },
  });
  sluice.port = plain;
});

test.after(async () => {
  await sluice?.stop();
  await cluster?.stop();
  certs?.remove();
});

async function scrape(): Promise<{ text: string; type: string | null; value(name: string, labels?: string): number | undefined }> {
  const res = await fetch(`http://127.0.0.1:${sluice.adminPort}/metrics`);
  assert.is(res.status, 200);
  const text = await res.text();
  return {
    text,
    type: res.headers.get('content-type'),
    value(name, labels = '') {
      const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
    },
  };
}

test('exact counts after known traffic', async () => {
  // 6 clients forwarded (2 of them try the dead broker first), 2 held open; 3 that do not start with CONNECT.
  const held = [];
  for (let i = 0; i < 6; i++) {
    const c = await connectClient(sluice.port, { clientId: `metrics-client-${i}` });
    if (i < 2) held.push(c);
    else await c.endAsync();
  }
  for (let i = 0; i < 3; i++) await rawExchange(sluice.port, [Buffer.from([0x30, 0x02, 0x00, 0x00])]);
  // Plain MQTT on the TLS port: a failed handshake, refused before it is accepted as MQTT.
  await rawExchange(tlsPort, [connectBytes({ clientId: 'plain-on-tls' })], { waitMs: 2000 });
  const stats = await waitForStats(sluice, (s) => s.counters.connections_closed === 4 && s.counters.refused_not_connect === 3 && s.counters.tls_handshake_failed === 1 && s.counters.bytes_client_to_broker > 0, 'traffic counted');

  const m = await scrape();
  const plain = `listener="mqtt://127.0.0.1:${sluice.port}"`;
  const tls = `listener="mqtts://127.0.0.1:${tlsPort}"`;
  assert.match(m.type ?? '', /^text\/plain; version=0\.0\.4/);
  assert.match(m.text, /# TYPE sluice_connections_total counter/);
  assert.is(m.value('sluice_connections_accepted_total', plain), 9);
  assert.is(m.value('sluice_connections_accepted_total', tls), 0);
  assert.is(m.value('sluice_handshake_refusals_total', `${tls},reason="tls_handshake_failed"`), 1);
  assert.is(m.value('sluice_handshake_refusals_total', `${plain},reason="tls_handshake_failed"`), 0);
  assert.is(m.value('sluice_connections_total', `${plain},outcome="forwarded"`), 6);
  assert.is(m.value('sluice_connections_total', `${plain},outcome="refused_not_connect"`), 3);
  assert.is(m.value('sluice_connections_total', `${plain},outcome="refused_malformed"`), 0);
  assert.is(m.value('sluice_connections_total', `${plain},outcome="dropped_worker_exit"`), 0);
  assert.is(m.value('sluice_connections_closed_total', plain), 4);
  assert.is(m.value('sluice_connections_active', plain), 2);
  assert.is(m.value('sluice_connections_admitted'), 2);
  assert.match(m.text, /# TYPE sluice_connect_duration_seconds histogram/);
  assert.is(m.value('sluice_connect_duration_seconds_count'), 6, 'one observation per forwarded connection');
  assert.is(m.value('sluice_connect_duration_seconds_bucket', 'le="+Inf"'), 6);
  const sum = m.value('sluice_connect_duration_seconds_sum') ?? -1;
  assert.ok(sum > 0 && sum < 6 * 5, `sum ${sum} s`);
  const live = ['m1', 'm2'].map((b) => m.value('sluice_broker_connections_active', `broker="${b}"`) ?? -1);
  assert.is(live[0] + live[1], 2);
  assert.is(m.value('sluice_broker_connections_active', 'broker="dead"'), 0);
  assert.is(m.value('sluice_broker_connect_failures_total', 'broker="dead"'), 2);
  assert.is(m.value('sluice_broker_connect_failures_total', 'broker="m1"'), 0);
  assert.is(m.value('sluice_broker_up', 'broker="m1"'), 1);
  // Bytes are published every second while clients live (the held ones may have sent more since).
  const total = m.value('sluice_bytes_total', 'direction="client_to_broker"') ?? 0;
  assert.ok(total >= stats.counters.bytes_client_to_broker);
  const perBroker = ['dead', 'm1', 'm2'].map((b) => m.value('sluice_broker_bytes_total', `broker="${b}",direction="client_to_broker"`) ?? -1);
  assert.is(perBroker[0], 0, 'nothing forwarded to the dead broker');
  assert.is(perBroker[1] + perBroker[2], total, 'the brokers share the total');
  assert.ok(perBroker[1] > 0 && perBroker[2] > 0);
  assert.is(m.value('sluice_workers', 'state="listening"'), 2);
  assert.is(m.value('sluice_worker_restarts_total'), 0);
  assert.is(m.value('sluice_config_reloads_total', 'result="applied"'), 0);
  assert.is(m.value('sluice_tls_handshakes_total', 'result="ok"'), 0);
  assert.is(m.value('sluice_sticky_lookups_total', 'result="hit"'), 0);
  const expiry = m.value('sluice_tls_certificate_expiry_timestamp_seconds', `listener="mqtts://127.0.0.1:${tlsPort}",file="${certs.server.cert}"`);
  assert.ok(expiry !== undefined && expiry > Date.now() / 1000, `expiry ${expiry}`);
  assert.ok((m.value('sluice_process_resident_memory_bytes') ?? 0) > 0, 'process metrics');
  assert.not.match(m.text, /metrics-client-/, 'no client id in the metrics');
  for (const c of held) await c.endAsync();
});

test('HEAD answers the head only', async () => {
  const res = await fetch(`http://127.0.0.1:${sluice.adminPort}/metrics`, { method: 'HEAD' });
  assert.is(res.status, 200);
  assert.is(await res.text(), '');
});

test.run();
