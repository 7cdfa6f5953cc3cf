// Measurement, not a test: proxy CPU-seconds per GB for forwardJs vs forwardSplice (64 KiB and 1 MiB
// pipes), moving 2 GiB client -> broker over loopback. The proxy runs in a child process, so only its
// CPU is counted; this process generates the load.
//   node_modules/.bin/node bench/forward-cpu.ts [GiB=2] [runs=3]
import { fork, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { freePort } from './lib/ports.ts';

type Result = { bytes: number; cpuUs: number; wallMs: number; pipeBytes?: number };
type Mode = { name: string; impl: 'js' | 'splice'; pipeBytes?: number };

const GiB = 1 << 30;

if (process.argv[2] === 'proxy') await runProxy(process.argv[3] as 'js' | 'splice', Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6]));
else await main();

/** Child: one proxy, one connection; reports its own CPU use over the connection's life. */
async function runProxy(impl: 'js' | 'splice', listenPort: number, brokerPort: number, pipeBytes: number): Promise<void> {
  const { forwardJs } = await import('../workers/forward-js.ts');
  const { forwardSplice } = await import('../workers/forward-splice.ts');
  const { splice, spliceAvailable, spliceUnavailableReason } = await import('../workers/splice-addon.ts');
  if (impl === 'splice') {
    if (!spliceAvailable) throw new Error(`splice not available: ${spliceUnavailableReason}`);
    splice!.configure(pipeBytes, 64);
  }
  const forward = impl === 'js' ? forwardJs : forwardSplice;
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    client.pause();
    const broker = connect({ host: '127.0.0.1', port: brokerPort, allowHalfOpen: true, noDelay: true }, () => {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      void forward(client, broker, { clientToBroker: 0, brokerToClient: 0 }).then((end) => {
        const cpu = process.cpuUsage(cpu0);
        const r: Result = { bytes: end.bytesClientToBroker, cpuUs: cpu.user + cpu.system, wallMs: performance.now() - t0 };
        process.send!(r);
        server.close();
      });
    });
  });
  server.listen(listenPort, '127.0.0.1', () => process.send!('ready'));
}

async function oneRun(mode: Mode, totalBytes: number): Promise<Result> {
  const brokerPort = await freePort();
  const proxyPort = await freePort();
  let received = 0;
  const sink = createServer((s: Socket) => {
    s.on('data', (d: Buffer) => { received += d.length; });
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => sink.listen(brokerPort, '127.0.0.1', r));
  const child: ChildProcess = fork(fileURLToPath(import.meta.url),
    ['proxy', mode.impl, String(proxyPort), String(brokerPort), String(mode.pipeBytes ?? 0)], { stdio: 'inherit' });
  const result = new Promise<Result>((resolve) => child.on('message', (m) => { if (m !== 'ready') resolve(m as Result); }));
  await new Promise<void>((r) => child.once('message', () => r()));
  const c = connect({ host: '127.0.0.1', port: proxyPort, noDelay: true });
  await new Promise<void>((r) => c.once('connect', () => r()));
  const chunk = Buffer.alloc(1 << 20, 7);
  for (let sent = 0; sent < totalBytes; sent += chunk.length) {
    if (!c.write(chunk)) await new Promise<void>((r) => c.once('drain', () => r()));
  }
  c.end();
  const r = await result;
  c.destroy();
  sink.close();
  await new Promise<void>((res) => child.once('exit', () => res()));
  // ForwardEnd is not checked here: forwardJs misses what Node buffered before forward was called.
  if (received !== totalBytes) throw new Error(`${mode.name}: moved ${received} of ${totalBytes}`);
  return { ...r, bytes: received };
}

async function main(): Promise<void> {
  const totalBytes = Math.round(Number(process.argv[2] ?? 2) * GiB);
  const runs = Number(process.argv[3] ?? 3);
  const modes: Mode[] = [
    { name: 'forwardJs (a.pipe(b))', impl: 'js' },
    { name: 'forwardSplice, 64 KiB pipes', impl: 'splice', pipeBytes: 64 * 1024 },
    { name: 'forwardSplice, 1 MiB pipes', impl: 'splice', pipeBytes: 1 << 20 },
  ];
  console.log(`proxy CPU per GB, ${totalBytes / GiB} GiB client -> broker on loopback, median of ${runs} runs`);
  for (const mode of modes) {
    const rs: Result[] = [];
    for (let i = 0; i < runs; i++) rs.push(await oneRun(mode, totalBytes));
    const perGb = rs.map((r) => r.cpuUs / 1e6 / (r.bytes / 1e9)).sort((a, b) => a - b);
    const gbps = rs.map((r) => r.bytes / 1e9 / (r.wallMs / 1000)).sort((a, b) => a - b);
    const mid = Math.floor(runs / 2);
    console.log(`${mode.name.padEnd(30)} ${perGb[mid].toFixed(3)} CPU-s/GB (runs ${perGb.map((x) => x.toFixed(3)).join(' ')}), ${gbps[mid].toFixed(2)} GB/s`);
  }
}
