// Churn soak: Sluice under a mix of new connections, streaming pairs, refusals and clients that give up,
// with one worker killed every minute (the test hook), for --minutes (default 10). Samples Sluice's RSS,
// open fds and counters every 10 s; at the end, after the load stops, checks that RSS after warm-up
// stayed flat (within 10%), fds are back to the baseline, and every connection is accounted for exactly.
//   node bench/soak.ts [--minutes 10] [--workers 2] [--datapath splice|js]
// Exit code 1 if a check fails. Everything runs on 127.0.0.1 and is stopped at the end.
import { execFileSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { nativeDir, startSink } from './lib/backends.ts';
import { killAll, rssBytes, sleep } from './lib/processes.ts';
import { startSluice } from '../test/helpers/sluice.ts';
import { connectBytes } from '../test/helpers/mqtt.ts';
import { unaccounted, waitForStats, stats as readStats, type Stats } from '../test/helpers/stats.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    workers: { type: 'string', default: '2' },
    datapath: { type: 'string', default: 'splice' },
    'warmup-s': { type: 'string', default: '60' },
  },
});
const durationMs = Number(values.minutes) * 60_000;
const warmupMs = Math.min(Number(values['warmup-s']) * 1000, durationMs / 2);
const workers = Number(values.workers);
const log = (m: string) => process.stdout.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

process.on('SIGINT', () => { killAll(); process.exit(130); });
execFileSync('make', ['-C', nativeDir, '-s'], { stdio: 'inherit' });
const backend = await startSink('echo', 2, undefined);
const sluice = await startSluice({
  workers,
  brokers: backend.ports.map((p, i) => ({ name: `echo-${i}`, address: `127.0.0.1:${p}` })),
  limits: { connect_timeout: '2s', max_connect_size: '4KiB', max_connections: 2000, max_pending: 400 },
  log: { level: 'error' },
}, { env: { SLUICE_TEST_HOOKS: '1', SLUICE_DATAPATH: values.datapath! } });
const pid = sluice.process.pid!;
const fds = () => readdirSync(`/proc/${pid}/fd`).length;
await sleep(500);
const baselineFds = fds();
log(`Sluice pid ${pid}, ${workers} workers, ${values.datapath} data path; baseline ${baselineFds} fds, RSS ${(rssBytes(pid) / 2 ** 20).toFixed(1)} MiB`);

let stopping = false;
const clientSockets = new Set<Socket>();
const done = { churn: 0, stream: 0, refusals: 0, errors: 0 };

/** One raw client: connect, write `bytes`, optionally wait for `expectBytes` back, then end or destroy. */
function client(bytes: Buffer[], opts: { expectBytes?: number; holdMs?: number; fin?: boolean } = {}): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ port: sluice.port, host: '127.0.0.1', noDelay: true });
    clientSockets.add(s);
    let got = 0;
    const finish = () => { clientSockets.delete(s); s.destroy(); resolve(); };
    const timer = setTimeout(finish, 5000);
    s.on('error', () => { done.errors++; });
    s.on('close', () => { clearTimeout(timer); finish(); });
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (opts.expectBytes !== undefined && got >= opts.expectBytes) {
        if (opts.holdMs) setTimeout(() => s.end(), opts.holdMs);
        else s.end();
      }
    });
    s.on('connect', () => {
      for (const b of bytes) s.write(b);
      if (opts.fin) s.end();
    });
  });
}

let seq = 0;
const publish = Buffer.concat([Buffer.from([0x30, 0x0d, 0x00, 0x03, 0x74, 0x2f, 0x31]), Buffer.from('payload')]);

/** New connections: CONNECT, CONNACK, a PUBLISH echoed back, close. 16 in flight. */
async function churnLoop(): Promise<void> {
  while (!stopping) {
    const c = connectBytes({ clientId: `churn-${seq++ % 5000}`, protocolVersion: seq % 3 === 0 ? 5 : 4 });
    // The echo backend answers CONNACK (4 bytes) and echoes the rest.
    await client([c, publish], { expectBytes: 4 + publish.length });
    done.churn++;
  }
}

/** Streaming pairs: 8 connections, each 64 KiB echoed 40 times then closed and reopened. */
async function streamLoop(): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, 0x73);
  while (!stopping) {
    const c = connectBytes({ clientId: `stream-${seq++ % 64}`, protocolVersion: 4 });
    await client([c, ...Array.from({ length: 40 }, () => chunk)], { expectBytes: 4 + 40 * chunk.length });
    done.stream++;
  }
}

/** Refusals and clients that give up: not CONNECT, bad level, too large, half CONNECT + FIN, silent. */
async function refusalLoop(): Promise<void> {
  const good = connectBytes({ clientId: 'refused', protocolVersion: 5 });
  const badLevel = Buffer.from(good);
  badLevel[8] = 9;
  const huge = Buffer.from([0x10, 0xff, 0xff, 0x03, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x05, 0x02, 0x00, 0x1e]);
  let k = 0;
  while (!stopping) {
    switch (k++ % 5) {
      case 0: await client([Buffer.from([0xc0, 0x00])]); break;
      case 1: await client([badLevel]); break;
      case 2: await client([huge]); break;
      case 3: await client([good.subarray(0, 9)], { fin: true }); break;
      case 4: void client([]); await sleep(20); break; // silent: evicted or timed out at connect_timeout
    }
    done.refusals++;
  }
}

const loops = [
  ...Array.from({ length: 16 }, churnLoop),
  ...Array.from({ length: 8 }, streamLoop),
  ...Array.from({ length: 4 }, refusalLoop),
];

type Sample = { atS: number; rssMiB: number; fds: number; open: number; pending: number };
const samples: Sample[] = [];
const started = Date.now();
let nextKill = 60_000;
let killed = 0;
while (Date.now() - started < durationMs) {
  await sleep(10_000);
  const elapsed = Date.now() - started;
  if (elapsed >= nextKill) {
    const id = 1 + (killed % workers);
    await sluice.admin(`/debug/crash-worker?id=${id}`, { method: 'POST' });
    killed++;
    nextKill += 60_000;
    log(`killed worker ${id}`);
  }
  const st = await readStats(sluice);
  const sample = { atS: Math.round(elapsed / 1000), rssMiB: rssBytes(pid) / 2 ** 20, fds: fds(), open: st.openClients, pending: st.pendingClients };
  samples.push(sample);
  log(`t=${sample.atS}s RSS ${sample.rssMiB.toFixed(1)} MiB, ${sample.fds} fds, open ${sample.open}, pending ${sample.pending}; ` +
    `churn ${done.churn}, stream ${done.stream}, refusals ${done.refusals}, accepted ${st.counters.connections_accepted}, dropped by worker exits ${st.counters.connections_dropped_worker_exit}`);
}

stopping = true;
await Promise.race([Promise.all(loops), sleep(10_000)]);
for (const s of clientSockets) s.destroy();
// Silent sockets and lingering refusals end within connect_timeout + the 2 s linger.
let final: Stats;
let checksOk = true;
try {
  final = await waitForStats(sluice, (x) => x.openClients === 0 && x.pendingClients === 0 && unaccounted(x) === 0, 'quiescence', 15_000);
} catch (err) {
  log(String(err));
  final = await readStats(sluice);
  checksOk = false;
}
await sleep(3000);
const endFds = fds();
// Idle splice pipes stay pooled for reuse (two fds each): they are the only fds allowed above the baseline.
const splice = (await sluice.admin<{ splice: { pairs: number; pipesPooled: number; pipesInUse: number } }>('/api/stats')).body.splice;
const pipeFds = 2 * (splice.pipesPooled + splice.pipesInUse);
const brokers = (await sluice.admin<{ liveConnections: number }[]>('/api/brokers')).body;
const health = await sluice.admin<{ workers: { restarts: number }[] }>('/healthz');

// Flat: the RSS at the end (median of the last 3 samples) within 10% of the RSS right after warm-up
// (median of the first 3 after it). Dips when a killed worker's memory is freed are not growth.
const afterWarmup = samples.filter((s) => s.atS * 1000 >= warmupMs).map((s) => s.rssMiB);
const median3 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rssStart = median3(afterWarmup.slice(0, 3));
const rssEnd = median3(afterWarmup.slice(-3));
const rssGrowth = (rssEnd - rssStart) / rssStart;
const rssFlat = Math.abs(rssGrowth) <= 0.10;
const fdsBack = endFds === baselineFds + pipeFds;
const countsExact = unaccounted(final) === 0 && final.openClients === 0 && final.pendingClients === 0 && brokers.every((b) => b.liveConnections === 0);
const c = final.counters;
log(`done: ${(durationMs / 60_000).toFixed(1)} min, ${c.connections_accepted} connections accepted, ${c.connections_forwarded} forwarded, ` +
  `${killed} workers killed (restarts ${health.body.workers.map((w) => w.restarts).join('+')}), ${c.connections_dropped_worker_exit} connections dropped by worker exits, ` +
  `${c.bytes_client_to_broker} bytes client->broker, ${c.bytes_broker_to_client} broker->client`);
log(`RSS after warm-up (${warmupMs / 1000} s): ${rssStart.toFixed(1)} MiB -> ${rssEnd.toFixed(1)} MiB at the end (${(rssGrowth * 100).toFixed(1)}%; ` +
  `samples ${Math.min(...afterWarmup).toFixed(1)}-${Math.max(...afterWarmup).toFixed(1)} MiB) ${rssFlat ? 'OK' : 'FAIL'} (limit 10%)`);
log(`fds: baseline ${baselineFds}, end ${endFds} = baseline + ${pipeFds} for ${splice.pipesPooled} pooled and ${splice.pipesInUse} busy splice pipes? ${fdsBack ? 'OK' : 'FAIL'}`);
log(`counts: open ${final.openClients}, pending ${final.pendingClients}, broker live ${brokers.map((b) => b.liveConnections).join('/')}, unaccounted ${unaccounted(final)} ${countsExact ? 'OK' : 'FAIL'}`);
await sluice.stop();
await backend.stop();
process.exitCode = checksOk && rssFlat && fdsBack && countsExact ? 0 : 1;
