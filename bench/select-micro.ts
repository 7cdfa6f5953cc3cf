// Micro-benchmark of broker selection: ns per placement (the first candidate) for each strategy, 3 and 32 brokers.
//
// Not a test and not part of `npm run bench`. Usage:
//   node --expose-gc bench/select-micro.ts [--src DIR] [--rounds N]
// --src measures another copy of src/ the same way (e.g. an older commit unpacked with
// `git archive <commit> src | tar -x -C /tmp/old`); a selector without first() is measured through
// candidates(key)[0], which is what placement did before the lazy iteration. Each figure is the median
// of --rounds timed rounds (default 7) after a warm-up; "gc" counts the collections during the timed
// rounds (0 = the placements allocated nothing the young generation noticed).
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

type Key = { text: string; hash: { hi: number; lo: number; big: bigint } };
type AnySelector = {
  candidates(key: Key): number[];
  first?(key: Key, cursor: unknown): number;
  placed?(key: Key, broker: number): void;
};

const args = process.argv.slice(2);
const argOf = (name: string, fallback: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
};
const srcDir = resolve(argOf('--src', new URL('../src', import.meta.url).pathname));
const rounds = Number(argOf('--rounds', '7'));
const load = (path: string) => import(pathToFileURL(resolve(srcDir, path)).href);

const { buildSelector } = await load('balance/index.ts');
const { BrokerTable } = await load('brokers/broker-table.ts');
const { StickyTable } = await load('sticky/table.ts');
const { hashKey } = await load('hash.ts');
let cursorModule: { SelectionCursor: new () => unknown } | undefined;
try {
  cursorModule = await load('balance/cursor.ts');
} catch {
  cursorModule = undefined; // an older src/: no cursors yet
}

let minorGcs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (((e as { detail?: { kind?: number } }).detail)?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minorGcs++;
}).observe({ entryTypes: ['gc'] });
const settle = () => new Promise((r) => setImmediate(r));

const keysOf = (prefix: string, n: number): Key[] => Array.from({ length: n }, (_, i) => ({ text: `${prefix}${i}`, hash: hashKey(`${prefix}${i}`) }));
const hotKeys = keysOf('client-', 4096);

type Case = { name: string; strategy: string; extra?: Record<string, unknown>; live?: boolean; stickyHit?: boolean; weighted?: boolean };
const cases: Case[] = [
  { name: 'random', strategy: 'random', weighted: true },
  { name: 'round-robin', strategy: 'round-robin' },
  { name: 'weighted-round-robin', strategy: 'weighted-round-robin', weighted: true },
  { name: 'least-connections', strategy: 'least-connections', live: true },
  { name: 'consistent-hash', strategy: 'consistent-hash' },
  { name: 'consistent-hash weighted', strategy: 'consistent-hash', weighted: true },
  { name: 'consistent-hash bounded', strategy: 'consistent-hash', extra: { loadBound: 1.25 }, live: true },
  { name: 'sticky hit (consistent-hash)', strategy: 'sticky', stickyHit: true },
  { name: 'sticky new key (claim)', strategy: 'sticky' },
];

function build(c: Case, n: number) {
  const brokerTable = new BrokerTable(BrokerTable.allocate(Math.max(n, 8)));
  if (c.live) for (let i = 0; i < n; i++) for (let k = 0; k < 10 + ((i * 7) % 13); k++) brokerTable.connectionOpened(i);
  const stickySab: SharedArrayBuffer = StickyTable.allocate(1 << 21);
  // Write every page once now (the same value back): page faults are not what this measures.
  const words = new Int32Array(stickySab);
  for (let i = 0; i < words.length; i += 1024) words[i] = words[i];
  const stickyTable = new StickyTable(stickySab);
  const brokers = Array.from({ length: n }, (_, i) => ({ name: `mqtt-${i}.example:1883`, weight: c.weighted ? 1 + (i % 4) : 1 }));
  const selector: AnySelector = buildSelector(c.strategy, { brokers, brokerTable, stickyTable, stickyTtlSec: 600, nowSec: () => 1000, ...c.extra });
  return selector;
}

/** ns per placement: `ops` placements of keys from `keys` (cycled), timed. */
function timeRound(selector: AnySelector, cursor: unknown, keys: Key[], ops: number): number {
  const mask = keys.length - 1;
  let sink = 0;
  const t0 = process.hrtime.bigint();
  if (cursor !== undefined && selector.first) {
    for (let i = 0; i < ops; i++) sink += selector.first(keys[i & mask], cursor);
  } else {
    for (let i = 0; i < ops; i++) sink += selector.candidates(keys[i & mask])[0];
  }
  const ns = Number(process.hrtime.bigint() - t0) / ops;
  if (sink === -42) console.log('unreachable');
  return ns;
}

/** New keys every time: each placement is a sticky miss that claims a pin. */
function timeFresh(selector: AnySelector, cursor: unknown, keys: Key[]): number {
  const t0 = process.hrtime.bigint();
  let sink = 0;
  if (cursor !== undefined && selector.first) for (const k of keys) sink += selector.first(k, cursor);
  else for (const k of keys) sink += selector.candidates(k)[0];
  const ns = Number(process.hrtime.bigint() - t0) / keys.length;
  if (sink === -42) console.log('unreachable');
  return ns;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const gc = (globalThis as { gc?: () => void }).gc;

/** One (case, broker count) in this process: median ns per placement, and young-generation collections while timed. */
async function measure(c: Case, n: number): Promise<{ ns: number; scavenges: number }> {
  const selector = build(c, n);
  const cursor = cursorModule ? new cursorModule.SelectionCursor() : undefined;
  const samples: number[] = [];
  let scavenges = 0;
  const fresh = c.name.startsWith('sticky new key');
  if (fresh) timeFresh(selector, cursor, keysOf(`warm-${n}-`, 50_000));
  else {
    if (c.stickyHit) for (const k of hotKeys) selector.placed?.(k, selector.candidates(k)[0]);
    timeRound(selector, cursor, hotKeys, 400_000); // warm-up: let the JIT optimize
  }
  for (let r = 0; r < rounds; r++) {
    const keys = fresh ? keysOf(`fresh-${n}-${r}-`, 20_000) : hotKeys;
    gc?.();
    await settle();
    const before = minorGcs;
    samples.push(fresh ? timeFresh(selector, cursor, keys) : timeRound(selector, cursor, keys, 200_000));
    await settle();
    scavenges += minorGcs - before;
  }
  return { ns: median(samples), scavenges };
}

const childAt = args.indexOf('--child');
if (childAt >= 0) {
  const c = cases.find((x) => x.name === args[childAt + 1])!;
  process.stdout.write(JSON.stringify(await measure(c, Number(args[childAt + 2]))));
} else {
  // Each (case, broker count) in a fresh process, so one strategy's JIT state never colours another's.
  const { spawnSync } = await import('node:child_process');
  console.log(`src: ${srcDir}  (${cursorModule ? 'first(key, cursor)' : 'candidates(key)[0]'}), median of ${rounds} rounds, ns per placement`);
  console.log(`${'strategy'.padEnd(30)} ${'3 brokers'.padStart(16)} ${'32 brokers'.padStart(16)}`);
  for (const c of cases) {
    const cells: string[] = [];
    for (const n of [3, 32]) {
      const child = spawnSync(process.execPath, ['--expose-gc', new URL(import.meta.url).pathname, '--src', srcDir, '--rounds', String(rounds), '--child', c.name, String(n)], { encoding: 'utf8' });
      if (child.status !== 0) throw new Error(child.stderr);
      const { ns, scavenges } = JSON.parse(child.stdout) as { ns: number; scavenges: number };
      cells.push(`${ns.toFixed(0).padStart(6)} ns (gc ${String(scavenges).padStart(3)})`);
    }
    console.log(`${c.name.padEnd(30)} ${cells.join(' ')}`);
  }
}
