// Diagnostic: which memory mappings of a fresh Sluice (splice data path) grow while it holds N idle
// connections, and by how much after a full GC: `node bench/idle-probe.ts [N]`.
import { readFileSync } from 'node:fs';
import { startSink } from './lib/backends.ts';
import { startTarget } from './lib/targets.ts';
import { holdIdle } from './lib/loadgen.ts';
import { sleep } from './lib/processes.ts';

type Mapping = { key: string; rss: number; anon: number };
function smaps(pid: number): Mapping[] {
  const out: Mapping[] = [];
  let cur: Mapping | undefined;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) { cur = { key: `${head[1]} ${((parseInt(head[2], 16) - parseInt(head[1], 16)) / 1024) | 0}K ${head[3]}`, rss: 0, anon: 0 }; out.push(cur); continue; }
    const m = /^(Rss|Anonymous):\s+(\d+) kB/.exec(line);
    if (m && cur) { if (m[1] === 'Rss') cur.rss = Number(m[2]); else cur.anon = Number(m[2]); }
  }
  return out;
}
const n = Number(process.argv[2] ?? 8000);
const which = (process.argv[3] ?? 'sluice-splice') as 'sluice-splice';
const sink = await startSink('sink', 3, undefined);
const t = await startTarget(which, sink.ports, { workers: 1, cpu: undefined, maxConnections: 100000 });
await t.heapAfterGc?.();
await sleep(500);
const before = smaps(t.pid!);
const held = await holdIdle(['--target', `127.0.0.1:${t.port}`, '--conns', String(n), '--sources', '127.0.0.2-127.0.0.250', '--hold-seconds', '120'], undefined, 120_000);
await sleep(1500);
const after = smaps(t.pid!);
const gcRes = await t.heapAfterGc?.();
await sleep(300);
const afterGc = smaps(t.pid!);
const b = new Map(before.map((m) => [m.key, m]));
const g = new Map(afterGc.map((m) => [m.key, m]));
let total = 0;
const rows = after.map((m) => ({ key: m.key, d: m.rss - (b.get(m.key)?.rss ?? 0), gc: (g.get(m.key)?.rss ?? 0) - (b.get(m.key)?.rss ?? 0) })).filter((r) => r.d !== 0);
rows.sort((x, y) => Math.abs(y.d) - Math.abs(x.d));
for (const r of rows.slice(0, 40)) { console.log(`${String(r.d).padStart(8)} kB  afterGC ${String(r.gc).padStart(8)} kB  ${r.key}`); }
for (const r of rows) total += r.d;
const newMaps = after.filter((m) => !b.has(m.key)).reduce((s, m) => s + m.rss, 0);
console.log(`total ${total} kB = ${(total * 1024 / n).toFixed(0)} B/conn; in new mappings ${newMaps} kB; heap ${JSON.stringify(gcRes)}`);
await held.release();
await t.stop();
await sink.stop();
process.exit(0);
