// End to end: the data path moves bytes exactly, passes half-close, resets and backpressure through.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { startEchoBroker, type EchoBroker } from '../helpers/echo-broker.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { connectBytes } from '../helpers/mqtt.ts';

let broker: EchoBroker;
let sluice: SluiceProcess;

test.before(async () => {
  broker = await startEchoBroker();
  sluice = await startSluice({
    workers: 2, brokers: [{ name: 'echo', address: `127.0.0.1:${broker.port}` }], log: { level: 'warn' },
    limits: { max_connect_size: '1MiB' },
  });
});
test.after(async () => {
  await sluice?.stop();
  await broker?.close();
});

test('the data path under test is the one asked for (SLUICE_DATAPATH), never a silent fallback', async () => {
  const wanted = process.env.SLUICE_DATAPATH ?? (process.platform === 'linux' ? 'splice' : 'js');
  const { body } = await sluice.admin<{ datapath: string }>('/api/stats');
  assert.is(body.datapath, wanted);
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port: sluice.port, host: '127.0.0.1', allowHalfOpen: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Reads until `bytes` have arrived (or end/close); returns what came. */
function readBytes(s: Socket, bytes: number, timeoutMs = 20_000): Promise<{ data: Buffer; ended: boolean }> {
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    let n = 0;
    const done = (ended: boolean) => { clearTimeout(t); s.off('data', onData); resolve({ data: Buffer.concat(got), ended }); };
    const onData = (d: Buffer) => { got.push(d); n += d.length; if (n >= bytes) done(false); };
    const t = setTimeout(() => done(false), timeoutMs);
    s.on('data', onData);
    s.once('end', () => done(true));
    s.once('close', () => done(true));
  });
}

test('16 MiB of random bytes each way arrive exactly (sha256), with CONNECT and leftovers in one write', async () => {
  const s = await open();
  const payload = randomBytes(16 * 1024 * 1024);
  const reading = readBytes(s, 4 + payload.length);
  // CONNECT and the first MiB in one segment: the leftover bytes after CONNECT must be forwarded.
  s.write(Buffer.concat([connectBytes({ clientId: 'bulk' }), payload.subarray(0, 1 << 20)]));
  s.write(payload.subarray(1 << 20));
  const { data } = await reading;
  assert.is(data.length, 4 + payload.length);
  assert.equal([...data.subarray(0, 4)], [0x20, 0x02, 0x00, 0x00]);
  assert.is(sha(data.subarray(4)), sha(payload));
  s.destroy();
});

test('a 120 KB CONNECT (more than one read of the engine) with bytes and FIN behind it in one write: all forwarded', async () => {
  // The CONNECT phase stops reading once JS has bytes to judge; what is left in the socket (the rest of
  // the CONNECT, the bytes behind it, the FIN) must still come through, with no new segment to say so.
  const s = await open();
  const big = connectBytes({ clientId: 'big-connect', username: 'u'.repeat(60_000), password: 'p'.repeat(60_000) });
  assert.ok(big.length > 64 * 1024, `${big.length} bytes`);
  const after = randomBytes(100_000);
  const reading = readBytes(s, 4 + after.length + 1);
  s.end(Buffer.concat([big, after]));
  const { data, ended } = await reading;
  assert.equal([...data.subarray(0, 4)], [0x20, 0x02, 0x00, 0x00], 'CONNACK');
  assert.is(sha(data.subarray(4)), sha(after), 'the bytes behind the CONNECT, echoed');
  assert.ok(ended, 'the FIN went through and came back');
});

test('half-close: the client FIN reaches the broker, and the broker can still answer', async () => {
  const s = await open();
  const payload = randomBytes(256 * 1024);
  const reading = readBytes(s, 4 + payload.length + 1);
  s.end(Buffer.concat([connectBytes({ clientId: 'half' }), payload]));
  const { data, ended } = await reading;
  assert.is(sha(data.subarray(4)), sha(payload), 'every byte echoed after our FIN');
  assert.ok(ended, 'the broker end (echo pipe) came through as FIN');
});

test('broker reset mid-stream closes the client', async () => {
  const s = await open();
  const reading = readBytes(s, Infinity, 5000);
  s.write(connectBytes({ clientId: 'victim' }));
  await new Promise((r) => setTimeout(r, 200));
  for (const b of broker.sockets) b.resetAndDestroy();
  const { ended } = await reading;
  assert.ok(ended, 'client saw its connection end');
});

test('client reset closes the broker side', async () => {
  const before = new Set(broker.sockets);
  const s = await open();
  s.write(connectBytes({ clientId: 'leaver' }));
  await readBytes(s, 4);
  const mine = [...broker.sockets].filter((b) => !before.has(b));
  assert.is(mine.length, 1, 'one new broker-side connection');
  const closed = new Promise<boolean>((resolve) => {
    mine[0].once('close', () => resolve(true));
    setTimeout(() => resolve(false), 3000);
  });
  s.resetAndDestroy();
  assert.ok(await closed, 'the broker side closed after the client reset');
});

test('slow reader: a client that stops reading pushes back on the broker (bounded buffering)', async () => {
  broker.mode = 'hold';
  const s = await open();
  s.write(connectBytes({ clientId: 'slow' }));
  await readBytes(s, 4);
  s.pause(); // the client reads nothing more
  const serverSide = [...broker.sockets].at(-1)!;
  const chunk = Buffer.alloc(64 * 1024, 7);
  let written = 0;
  // Write until the socket refuses more and stays refused for a while: then everyone between is full.
  for (let i = 0; i < 4096; i++) {
    written += chunk.length;
    if (!serverSide.write(chunk)) {
      const drained = await Promise.race([new Promise((r) => serverSide.once('drain', () => r(true))), new Promise((r) => setTimeout(() => r(false), 1000))]);
      if (!drained) break;
    }
  }
  broker.mode = 'echo';
  // Kernel buffers on both hops plus Sluice's stream buffers: a few MiB, never the 256 MiB offered.
  assert.ok(written < 64 * 1024 * 1024, `broker could write only ${written} bytes before backpressure`);
  s.destroy();
});

test.run();
