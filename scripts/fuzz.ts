// `npm run fuzz -- --count N`: the CONNECT split-invariance property, run long. N seeded corpus inputs go
// through the ConnectReader whole, byte by byte, cut in two at every position (inputs up to --every-cut
// bytes) and at random places; N/100 of them also go through a real Sluice listener (a child process,
// two workers, splice data path unless SLUICE_DATAPATH says otherwise) against a recording broker.
// Every CONNECT the reader accepts is also parsed by mqtt-packet (the reference): the fields must agree.
// Prints the verdict counts, every mismatch with its input, and (--print) every input and verdict.
// Exit code 1 on any mismatch or if Sluice is not healthy afterwards.
import { parseArgs } from 'node:util';
import { readerOutcome, observable, referenceDifferences } from '../test/fuzz/reader-outcome.ts';
import { readConnect } from '../src/mqtt/connect.ts';
import { corpusInput, splitsOf } from '../test/fuzz/connect-corpus.ts';
import { mulberry32 } from '../test/helpers/random.ts';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '100000' },
    seed: { type: 'string', default: String(0x5eed_f022) },
    listener: { type: 'string' },
    'every-cut': { type: 'string', default: '200' },
    'max-connect-size': { type: 'string', default: '1024' },
    print: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write('npm run fuzz -- [--count N] [--seed S] [--listener M (default N/100)] [--every-cut BYTES] [--max-connect-size B] [--print]\n');
  process.exit(0);
}
const count = Number(values.count);
const seed = Number(values.seed);
const listenerCount = values.listener === undefined ? Math.ceil(count / 100) : Number(values.listener);
const everyCut = Number(values['every-cut']);
const maxConnectBytes = Number(values['max-connect-size']);
const started = Date.now();
const verdicts = new Map<string, number>();
let mismatches = 0;
let readerRuns = 0;
const random = mulberry32(seed);

process.stdout.write(`fuzz: seed ${seed}, ${count} inputs through the ConnectReader, ${listenerCount} through a real listener, max_connect_size ${maxConnectBytes}\n`);
for (let i = 0; i < count; i++) {
  const input = corpusInput(seed, i);
  const whole = readerOutcome([input.bytes], maxConnectBytes);
  readerRuns++;
  const kind = whole.verdict.split(' ')[0];
  verdicts.set(kind, (verdicts.get(kind) ?? 0) + 1);
  if (values.print) process.stdout.write(`#${i} ${input.kind} ${input.bytes.toString('hex')} -> ${whole.verdict} ${observable(whole)}\n`);
  if (kind === 'complete') {
    // The one-walk parse against mqtt-packet, the reference: what Sluice accepts, it reads the same.
    const r = readConnect(input.bytes, maxConnectBytes);
    const diff = r.kind === 'complete' ? referenceDifferences(input.bytes.subarray(0, r.packetBytes), r.connect) : [`readConnect: ${r.kind}`];
    if (diff.length > 0) {
      mismatches++;
      process.stdout.write(`MISMATCH reference #${i} ${input.bytes.toString('hex')}: ${diff.join('; ')}\n`);
    }
  }
  const cuts = splitsOf(input.bytes, random, 3).map((s) => ({ name: s.name, pieces: s.pieces }));
  if (input.bytes.length <= everyCut) {
    for (let cut = 1; cut < input.bytes.length; cut++) cuts.push({ name: `cut@${cut}`, pieces: [input.bytes.subarray(0, cut), input.bytes.subarray(cut)] });
  }
  for (const c of cuts) {
    const o = readerOutcome(c.pieces, maxConnectBytes);
    readerRuns++;
    if (o.verdict !== whole.verdict || o.reply !== whole.reply || o.forwarded !== whole.forwarded) {
      mismatches++;
      process.stdout.write(`MISMATCH reader #${i} ${input.kind} ${input.bytes.toString('hex')}\n  whole: ${whole.verdict} ${observable(whole)}\n  ${c.name}: ${o.verdict} ${observable(o)}\n`);
    }
  }
  if ((i + 1) % 100_000 === 0) process.stdout.write(`  ${i + 1} inputs, ${readerRuns} reader runs, ${mismatches} mismatches, ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}
const readerSeconds = (Date.now() - started) / 1000;
process.stdout.write(`reader: ${count} inputs, ${readerRuns} runs in ${readerSeconds.toFixed(1)} s; verdicts ${JSON.stringify(Object.fromEntries(verdicts))}\n`);

let healthy = true;
if (listenerCount > 0) {
  const { startSluice } = await import('../test/helpers/sluice.ts');
  const { startRecorder, runCorpusThroughListener } = await import('../test/fuzz/listener-runner.ts');
  const recorder = await startRecorder();
  const sluice = await startSluice({
    workers: 2,
    brokers: [{ name: 'recorder', address: `127.0.0.1:${recorder.port}` }],
    limits: { max_connect_size: maxConnectBytes },
    log: { level: 'error' },
  });
  const t0 = Date.now();
  try {
    // Listener inputs come from the same corpus, after the reader's, so they are new bytes.
    const run = await runCorpusThroughListener(sluice.port, recorder, {
      seed, from: count, count: listenerCount, maxConnectBytes,
      onInput: values.print ? (input, expected) => process.stdout.write(`listener #${input.index} ${input.kind} ${input.bytes.toString('hex')} -> ${expected.verdict}\n`) : undefined,
    });
    for (const m of run.mismatches) {
      process.stdout.write(`MISMATCH listener #${m.input.index} ${m.input.kind} ${m.input.bytes.toString('hex')}\n  expected ${m.expected.verdict} ${observable(m.expected)}\n  ${m.seen.join('\n  ')}\n`);
    }
    mismatches += run.mismatches.length;
    const stats = (await sluice.admin<{ counters: Record<string, number>; openClients: number; pendingClients: number }>('/api/stats')).body;
    healthy = (await sluice.admin('/healthz')).status === 200 && stats.counters.connections_accepted === run.connections && stats.openClients === 0;
    process.stdout.write(`listener: ${listenerCount} inputs, ${run.connections} connections in ${((Date.now() - t0) / 1000).toFixed(1)} s; ` +
      `Sluice ${healthy ? 'healthy' : 'NOT healthy'}, accepted ${stats.counters.connections_accepted}, open ${stats.openClients}, pending ${stats.pendingClients}\n`);
  } finally {
    await sluice.stop();
    await recorder.close();
  }
}
process.stdout.write(`fuzz: ${mismatches} mismatches, ${healthy ? 'no crash' : 'Sluice unhealthy'}; ${((Date.now() - started) / 1000).toFixed(1)} s in all\n`);
process.exitCode = mismatches === 0 && healthy ? 0 : 1;
