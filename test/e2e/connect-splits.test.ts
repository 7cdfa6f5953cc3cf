// End to end: the outcome of a first packet (the CONNACK a client gets, or the bytes its broker gets)
// depends on its bytes alone, never on how TCP cut them. Seeded corpus inputs go through the real
// listener whole, byte by byte and cut at random places, each followed by FIN, against a recording broker.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { startRecorder, runCorpusThroughListener, type Recorder } from '../fuzz/listener-runner.ts';

const seed = 0x5eed_0010;
const inputs = Number(process.env.SLUICE_SPLIT_INPUTS ?? 1500);
const maxConnectBytes = 1024;

let recorder: Recorder;
let connections = 0;
let sluice: SluiceProcess;

test.before(async () => {
  recorder = await startRecorder();
  sluice = await startSluice({
    workers: 2,
    brokers: [{ name: 'recorder', address: `127.0.0.1:${recorder.port}` }],
    limits: { max_connect_size: maxConnectBytes },
    log: { level: 'error' },
  });
});

test.after(async () => {
  await sluice?.stop();
  await recorder?.close();
});

test(`${inputs} corpus inputs: the same reply and the same forwarded bytes for every cut`, async () => {
  const run = await runCorpusThroughListener(sluice.port, recorder, { seed, count: inputs, maxConnectBytes });
  const { mismatches, verdicts } = run;
  connections = run.connections;
  const report = mismatches.slice(0, 5).map((m) => `#${m.input.index} ${m.input.kind} ${m.input.bytes.toString('hex')}\n  expected ${m.expected.verdict}: reply=${m.expected.reply || '-'}\n  ${m.seen.join('\n  ')}`).join('\n');
  assert.is(mismatches.length, 0, `${mismatches.length} inputs depend on the cut:\n${report}`);
  // The corpus reaches every verdict, so each path was exercised through the listener.
  for (const kind of ['complete', 'ended', 'not-connect', 'malformed', 'unsupported-protocol', 'too-large']) {
    assert.ok((verdicts.get(kind) ?? 0) > 0, `no ${kind} input: ${JSON.stringify([...verdicts])}`);
  }
});

test('Sluice is healthy afterwards and counted every connection', async () => {
  const { status } = await sluice.admin('/healthz');
  assert.is(status, 200);
  const stats = (await sluice.admin<{ counters: Record<string, number>; openClients: number; pendingClients: number }>('/api/stats')).body;
  assert.ok(connections > inputs * 3, `${connections} connections`);
  assert.is(stats.counters.connections_accepted, connections);
  assert.is(stats.openClients, 0);
  assert.is(stats.pendingClients, 0);
});

test.run();
