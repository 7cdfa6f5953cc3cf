// End to end: the CONNECT phase against a recording broker. A client that gives up (FIN) before its
// CONNECT is whole is closed at once and counted as such; a CONNECT followed by PUBLISH and FIN in one
// write is forwarded, FIN included; a CONNECT announced huge is refused at once and buffered nowhere;
// every protocol level under both protocol names gets its documented answer; and every byte is counted,
// the ones that came with the CONNECT too, while connections live.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { freePort } from '../helpers/ports.ts';
import { connectBytes } from '../helpers/mqtt.ts';
import { lp, packet } from '../fixtures/mqtt/connects.ts';
import { sendPieces } from '../fuzz/listener-runner.ts';
import { stats, unaccounted, waitForStats } from '../helpers/stats.ts';

type Recorded = { bytes: Buffer; ended: boolean };

// The broker: records each connection; one whose CONNECT names "stream-down" gets 300 KiB sent back.
const downBytes = 300 * 1024;
const recorded: Recorded[] = [];
let broker: Server;
let sluice: SluiceProcess;

test.before(async () => {
  const port = await freePort();
  broker = createServer({ allowHalfOpen: true }, (s) => {
    const r: Recorded = { bytes: Buffer.alloc(0), ended: false };
    recorded.push(r);
    let streamed = false;
    s.on('data', (d: Buffer) => {
      r.bytes = Buffer.concat([r.bytes, d]);
      if (!streamed && r.bytes.includes('stream-down')) {
        streamed = true;
        s.write(Buffer.alloc(downBytes, 0x64));
      }
    });
    s.on('end', () => { r.ended = true; s.end(); });
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => broker.listen(port, '127.0.0.1', () => resolve()));
  sluice = await startSluice({
    workers: 2,
    brokers: [{ name: 'rec', address: `127.0.0.1:${port}` }],
    limits: { connect_timeout: '5s' },
    log: { level: 'warn' },
  });
});

test.after(async () => {
  await sluice?.stop();
  broker?.close();
});

/** Opens a raw connection; resolves when Sluice closes it, with what came back and how long it took. */
function rawClient(write: (s: Socket) => void): Promise<{ reply: Buffer; ms: number }> {
  return new Promise((resolve) => {
    const start = Date.now();
    const s = connect({ port: sluice.port, host: '127.0.0.1', allowHalfOpen: true });
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    s.on('error', () => {});
    s.on('close', () => resolve({ reply: Buffer.concat(got), ms: Date.now() - start }));
    s.on('end', () => s.destroy());
    s.on('connect', () => write(s));
    setTimeout(() => s.destroy(), 8000).unref();
  });
}

test('FIN before any byte: closed at once (not at connect_timeout), counted as client_ended_before_connect', async () => {
  const before = await stats(sluice);
  const r = await rawClient((s) => s.end());
  assert.ok(r.ms < 1000, `closed after ${r.ms} ms`);
  assert.is(r.reply.length, 0);
  const after = await waitForStats(sluice, (x) => x.counters.client_ended_before_connect === before.counters.client_ended_before_connect + 1, 'the count');
  assert.is(after.counters.refused_connect_timeout, before.counters.refused_connect_timeout);
});

test('FIN after half a CONNECT: closed at once, counted as client_ended_before_connect, not as a timeout', async () => {
  const before = await stats(sluice);
  const half = connectBytes({ clientId: 'half-then-fin', protocolVersion: 4 }).subarray(0, 10);
  const r = await rawClient((s) => s.end(half));
  assert.ok(r.ms < 1000, `closed after ${r.ms} ms`);
  const after = await waitForStats(sluice, (x) => x.counters.client_ended_before_connect === before.counters.client_ended_before_connect + 1, 'the count');
  assert.is(after.counters.refused_connect_timeout, before.counters.refused_connect_timeout);
  assert.is(after.pendingClients, 0, 'no admission slot or pending room held');
});

test('CONNECT + PUBLISH + FIN in one write: all forwarded, FIN included; the bytes are counted', async () => {
  const before = await stats(sluice);
  const c = connectBytes({ clientId: 'connect-publish-fin', protocolVersion: 4 });
  const pub = mqttPacket.generate({ cmd: 'publish', topic: 't/1', payload: Buffer.from('payload behind the CONNECT'), qos: 0, retain: false, dup: false });
  const n = recorded.length;
  const r = await rawClient((s) => s.end(Buffer.concat([c, pub])));
  assert.ok(r.ms < 2000, `pair ended after ${r.ms} ms`);
  const got = recorded[n];
  assert.ok(got, 'the broker got a connection');
  assert.is(got.bytes.toString('hex'), Buffer.concat([c, pub]).toString('hex'));
  assert.ok(got.ended, 'the broker saw the FIN');
  // Counted to the byte, the PUBLISH that came in the CONNECT's segment included.
  await waitForStats(sluice, (x) => x.counters.bytes_client_to_broker - before.counters.bytes_client_to_broker === c.length + pub.length, 'client->broker bytes');
});

test('bytes are published while a connection lives (both ways), not when it ends', async () => {
  const before = await stats(sluice);
  const c = connectBytes({ clientId: 'stream-down-live', protocolVersion: 4 });
  const up = Buffer.alloc(700 * 1024, 0x75);
  const s = connect({ port: sluice.port, host: '127.0.0.1' });
  let down = 0;
  s.on('data', (d: Buffer) => { down += d.length; });
  s.on('error', () => {});
  await new Promise<void>((resolve) => s.on('connect', () => resolve()));
  s.write(c);
  s.write(up);
  try {
    const live = await waitForStats(sluice, (x) =>
      x.counters.bytes_client_to_broker - before.counters.bytes_client_to_broker === c.length + up.length &&
      x.counters.bytes_broker_to_client - before.counters.bytes_broker_to_client === downBytes, 'live byte counts', 5000);
    assert.is(down, downBytes, 'the client got the broker bytes');
    assert.is(live.counters.connections_closed, before.counters.connections_closed, 'the connection is still open');
  } finally {
    s.destroy();
  }
});

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

test('CONNECTs announced at 256 MiB, header in a segment of its own: refused at once (0x95 / close), RSS flat', async () => {
  const before = await stats(sluice);
  const rss0 = rssBytes(sluice.process.pid!);
  const header = Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]); // Remaining Length 268,435,455
  const junk = Buffer.alloc(256 * 1024, 0x6a);
  const results = await Promise.all(Array.from({ length: 8 }, (_, i) => {
    const level = i % 2 === 0 ? 5 : 4;
    const start = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, level, 0x02, 0x00, 0x1e]);
    let sentAt = 0;
    return rawClient((s) => {
      s.write(header);
      setTimeout(() => {
        // The protocol level and far more than a CONNECT cap behind it: a client that means it.
        sentAt = Date.now();
        s.write(Buffer.concat([start, junk]));
        let sent = 0;
        const more = () => {
          while (!s.destroyed && sent < 24 * 1024 * 1024 && s.write(junk)) sent += junk.length;
          if (!s.destroyed && sent < 24 * 1024 * 1024) s.once('drain', more);
        };
        more();
      }, 50);
    }).then((r) => ({ ...r, level, sinceLevelMs: Date.now() - sentAt }));
  }));
  for (const r of results) {
    assert.is(r.reply.toString('hex'), r.level === 5 ? '2003009500' : '', `level ${r.level}`);
    assert.ok(r.sinceLevelMs < 3000, `refused ${r.sinceLevelMs} ms after the level arrived`);
  }
  const after = await stats(sluice);
  assert.is(after.counters.refused_too_large, before.counters.refused_too_large + 8);
  const grownMiB = (rssBytes(sluice.process.pid!) - rss0) / 2 ** 20;
  assert.ok(grownMiB < 40, `Sluice RSS grew ${grownMiB.toFixed(1)} MiB`);
});

/** A CONNECT with the given protocol name and level (the MQTT 5 layout where the level is 5). */
function connectWith(name: 'MQTT' | 'MQIsdp', level: number): Buffer {
  const n = Buffer.from(name);
  const properties = name === 'MQTT' && level === 5 ? [0x00] : [];
  return packet(0x10, [0x00, n.length, ...n, level, 0x02, 0x00, 0x3c, ...properties, ...lp(`lv-${name}-${level}`)]);
}

test('every protocol level under both names: accepted pairs forwarded; MQTT above 5 gets 0x84 (5.0 form), the rest 0x01 (3.1 form)', async () => {
  const before = await stats(sluice);
  const cases: { name: 'MQTT' | 'MQIsdp'; level: number }[] = [];
  for (const name of ['MQTT', 'MQIsdp'] as const) for (let level = 0; level < 256; level++) cases.push({ name, level });
  const n = recorded.length;
  let accepted = 0;
  for (let i = 0; i < cases.length; i += 32) {
    const batch = cases.slice(i, i + 32);
    const replies = await Promise.all(batch.map((c) => sendPieces(sluice.port, [connectWith(c.name, c.level)])));
    batch.forEach((c, k) => {
      const supported = (c.name === 'MQTT' && (c.level === 4 || c.level === 5)) || (c.name === 'MQIsdp' && c.level === 3);
      const want = supported ? '' : c.name === 'MQTT' && c.level > 5 ? '2003008400' : '20020001';
      if (supported) accepted++;
      assert.is(replies[k].reply, want, `${c.name} level ${c.level}`);
      assert.not.ok(replies[k].timedOut, `${c.name} level ${c.level} timed out`);
    });
  }
  assert.is(accepted, 3);
  const forwarded = recorded.slice(n).map((r) => r.bytes.toString('hex'));
  assert.equal(forwarded.sort(), [connectWith('MQTT', 4), connectWith('MQTT', 5), connectWith('MQIsdp', 3)].map((b) => b.toString('hex')).sort());
  const after = await stats(sluice);
  assert.is(after.counters.refused_unsupported_protocol, before.counters.refused_unsupported_protocol + 512 - 3);
});

test('every connection of this file is accounted for: pending, admitted, or ended with one outcome', async () => {
  const s = await waitForStats(sluice, (x) => x.openClients === 0 && x.pendingClients === 0 && unaccounted(x) === 0, 'all over, every connection accounted for');
  assert.ok(s.counters.connections_accepted > 500);
});

test.run();
