// End to end: coalescing on the native path (native/pump.c, coalesce_us). A source that streams small
// writes is held, and still every byte arrives in order with its FIN, also the last bytes of a burst
// after which the source goes quiet (the hold tick delivers them). Request/response traffic is never
// held. On the JS path nothing is held (holds stays 0) and the same bytes arrive.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { freePort } from '../helpers/ports.ts';
import { connectBytes } from '../helpers/mqtt.ts';

type Recorded = { bytes: Buffer[]; length: number; ended: boolean };

// The broker: echoes every byte of a connection whose CONNECT names "echo-", records the others.
const recorded = new Map<string, Recorded>();
let broker: Server;
let sluice: SluiceProcess;
let datapath = '';

test.before(async () => {
  const port = await freePort();
  broker = createServer({ allowHalfOpen: true }, (s) => {
    const r: Recorded = { bytes: [], length: 0, ended: false };
    let echo: boolean | undefined;
    s.on('data', (d: Buffer) => {
      if (echo === undefined) {
        const id = /(echo|stream)-[a-z0-9-]+/.exec(d.toString('latin1'))?.[0] ?? 'unknown';
        echo = id.startsWith('echo-');
        recorded.set(id, r);
      }
      if (echo) s.write(d);
      r.bytes.push(d);
      r.length += d.length;
    });
    s.on('end', () => { r.ended = true; s.end(); });
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => broker.listen(port, '127.0.0.1', () => resolve()));
  sluice = await startSluice({
    workers: 1,
    brokers: [{ name: 'rec', address: `127.0.0.1:${port}` }],
    log: { level: 'warn' },
  });
  datapath = (await sluice.admin<{ datapath: string }>('/api/stats')).body.datapath;
});

test.after(async () => {
  await sluice?.stop();
  broker?.close();
});

const holds = async (): Promise<number> => (await sluice.admin<{ splice: { holds: number } }>('/api/stats')).body.splice.holds;

/** The bytes of write i of a stream: 1,200 bytes (about 16 small PUBLISH) that say which write they are. */
function chunk(i: number): Buffer {
  const b = Buffer.alloc(1200);
  for (let k = 0; k < b.length; k += 4) b.writeUInt32BE((i * 300 + k / 4) >>> 0, k);
  return b;
}

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port: sluice.port, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(s));
    s.on('error', reject);
  });
}

async function until(what: string, ready: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a source streaming small writes: held on the native path, every byte in order, then its FIN', async () => {
  const before = await holds();
  const s = await open();
  const connect = connectBytes({ clientId: 'stream-a' });
  s.write(connect);
  const writes = 3000;
  const expected: Buffer[] = [connect];
  for (let i = 0; i < writes; i++) {
    const c = chunk(i);
    expected.push(c);
    s.write(c);
    // A separate write each (a new turn of the loop every few), as a device streaming QoS 0 does.
    if (i % 8 === 7) await new Promise((r) => setImmediate(r));
  }
  s.end();
  const want = Buffer.concat(expected);
  await until('the stream and its FIN at the broker', () => recorded.get('stream-a')?.ended === true);
  const got = Buffer.concat(recorded.get('stream-a')!.bytes);
  assert.is(got.length, want.length);
  assert.ok(got.equals(want), 'the same bytes in the same order');
  s.destroy();
  const after = await holds();
  if (datapath === 'splice') assert.ok(after > before, `the streaming source was held (holds ${before} -> ${after})`);
  else assert.is(after, 0, 'the JS path holds nothing');
});

test('the last bytes of a burst arrive after the source goes quiet (the hold tick reads them)', async () => {
  const s = await open();
  const connect = connectBytes({ clientId: 'stream-b' });
  s.write(connect);
  let sent = connect.length;
  for (let i = 0; i < 400; i++) {
    s.write(chunk(i));
    sent += 1200;
    if (i % 8 === 7) await new Promise((r) => setImmediate(r));
  }
  // Quiet now, with the connection open: what the burst wrote last must not wait for more bytes.
  await until('the whole burst at the broker, the connection still open', () => recorded.get('stream-b')?.length === sent);
  assert.is(recorded.get('stream-b')!.ended, false);
  const tail = Buffer.from('last bytes after a quiet moment');
  await new Promise((r) => setTimeout(r, 30));
  s.write(tail);
  await until('the tail', () => recorded.get('stream-b')?.length === sent + tail.length);
  s.end();
  await until('the FIN', () => recorded.get('stream-b')?.ended === true);
  const got = Buffer.concat(recorded.get('stream-b')!.bytes);
  assert.ok(got.subarray(got.length - tail.length).equals(tail));
  s.destroy();
});

test('request/response traffic is never held: each answer comes back, and holds does not move', async () => {
  const before = await holds();
  const s = await open();
  let received = Buffer.alloc(0);
  s.on('data', (d: Buffer) => { received = Buffer.concat([received, d]); });
  const connect = connectBytes({ clientId: 'echo-a' });
  s.write(connect);
  await until('the echoed CONNECT', () => received.length === connect.length);
  let expected = connect.length;
  for (let i = 0; i < 300; i++) {
    const req = chunk(i).subarray(0, 100);
    s.write(req);
    expected += req.length;
    await until(`answer ${i}`, () => received.length === expected);
  }
  assert.is(await holds(), before, 'no hold for request/response traffic');
  s.end();
  await until('the FIN', () => recorded.get('echo-a')?.ended === true);
  s.destroy();
});

test.run();
