// End to end: admin requests with odd targets, methods, headers and bodies each get an HTTP answer and a
// counter, nothing logs a request header, and afterwards /healthz is 200 and MQTT clients still connect.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect as netConnect, type Socket } from 'node:net';
import { once } from 'node:events';
import { startMosquittos, type MosquittoCluster } from '../helpers/mosquitto.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { connectClient } from '../helpers/mqtt.ts';
import { rawHttp, type HttpAnswer } from '../helpers/http.ts';
import { adminHttpLimits } from '../../src/admin/http-limits.ts';

type Stats = { counters: Record<string, number> };

let cluster: MosquittoCluster;
let sluice: SluiceProcess;
// Sent with every raw request below; the last test asserts neither ever reaches the process output.
const token = 's3cret-token-never-logged';
const bodySecret = 'body-s3cret-never-logged';

test.before(async () => {
  cluster = await startMosquittos(1);
  sluice = await startSluice({
    workers: 1,
    brokers: cluster.brokers.map((b) => ({ name: b.name, address: b.address })),
    // debug: the most verbose level must still never print a request header or body.
    log: { level: 'debug' },
  }, { env: { SLUICE_TEST_HOOKS: '1' } });
});

test.after(async () => {
  await sluice?.stop();
  await cluster?.stop();
});

async function counters(): Promise<Record<string, number>> {
  return (await sluice.admin<Stats>('/api/stats')).body.counters;
}

/** The change in each named counter while `fn` runs. */
async function deltas(names: string[], fn: () => Promise<void>): Promise<Record<string, number>> {
  const before = await counters();
  await fn();
  const after = await counters();
  return Object.fromEntries(names.map((n) => [n, after[n] - before[n]]));
}

/** One request line plus headers (Host, the secret token, `Connection: close` unless overridden). */
function request(method: string, target: string, headers: Record<string, string> = {}, body = ''): string {
  const all: Record<string, string> = { Host: '127.0.0.1', Authorization: `Bearer ${token}`, Connection: 'close', ...headers };
  return `${method} ${target} HTTP/1.1\r\n${Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${body}`;
}

function send(raw: string | Buffer | (string | Buffer)[], opts: { waitMs?: number; gapMs?: number } = {}): Promise<HttpAnswer> {
  return rawHttp(sluice.adminPort, Array.isArray(raw) ? raw : [raw], opts);
}

function json(a: HttpAnswer): Record<string, unknown> {
  assert.is(a.headers['content-type'], 'application/json', `JSON answer expected, got ${JSON.stringify(a.data.toString('latin1').slice(0, 200))}`);
  return JSON.parse(a.body) as Record<string, unknown>;
}

async function assertHealthy(): Promise<void> {
  assert.is(sluice.process.exitCode, null, `sluice exited:\n${sluice.output().slice(-2000)}`);
  assert.is((await sluice.admin('/healthz')).status, 200);
}

test('bad request targets get 400 with a JSON reason; the balancer keeps serving', async () => {
  const targets = [
    '//[', 'http://[::1', 'http://[::1]:x/healthz', 'http://', 'ftp://127.0.0.1/healthz', '*', 'healthz',
    '/healthz#frag', '/api/stats?x=%zz', '/healthz%', 'http://127.0.0.1/he{lthz',
  ];
  const d = await deltas(['admin_bad_requests', 'admin_client_errors'], async () => {
    for (const target of targets) {
      const a = await send(request('GET', target));
      assert.is(a.status, 400, `target ${target}: ${a.data.toString('latin1').slice(0, 200)}`);
      assert.ok(typeof json(a).error === 'string', target);
      assert.ok(a.closed, `target ${target}: connection closed after the answer`);
    }
  });
  // Node's parser refuses a few of these itself (e.g. `http://`), the handler the rest: all counted.
  assert.is(d.admin_bad_requests + d.admin_client_errors, targets.length);
  await assertHealthy();
});

test('absolute-form and odd-but-valid targets are served by their path', async () => {
  const ok = await send(request('GET', `http://127.0.0.1:${sluice.adminPort}/healthz`));
  assert.is(ok.status, 200);
  assert.is(json(ok).status, 'ok');
  const stats = await send(request('GET', 'http://admin.example/api/stats?x=%41&limit=abc'));
  assert.is(stats.status, 200);
  assert.ok(json(stats).counters);
  const clients = await send(request('GET', '/api/clients?limit=-1&client_id=%ff%fe'));
  assert.is(clients.status, 200);
  // Dot segments are resolved; a doubled slash starts a path, never a host (`//x/healthz` is not /healthz).
  assert.is((await send(request('GET', '/api/../healthz'))).status, 200);
  const doubled = await send(request('GET', '//evil.example/healthz'));
  assert.is(doubled.status, 404);
  assert.ok(Array.isArray(json(doubled).paths));
  await assertHealthy();
});

test('unknown paths get 404, wrong methods 405 with an Allow header, HEAD is served', async () => {
  const d = await deltas(['admin_bad_requests', 'admin_requests'], async () => {
    assert.is((await send(request('GET', '/nope'))).status, 404);
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'PROPFIND']) {
      const a = await send(request(method, '/healthz', { 'Content-Length': '0' }));
      assert.is(a.status, 405, method);
      assert.is(a.headers.allow, 'GET, HEAD', method);
      assert.is(json(a).error, 'method not allowed');
    }
    // The test hook exists (SLUICE_TEST_HOOKS=1) but takes POST only.
    const hook = await send(request('GET', '/debug/crash-worker?id=99'));
    assert.is(hook.status, 405);
    assert.is(hook.headers.allow, 'POST');
    // CONNECT (authority form): Node hands it to a separate event; it still gets an answer.
    const tunnel = await send(request('CONNECT', '127.0.0.1:1883'));
    assert.is(tunnel.status, 405);
    assert.is(tunnel.headers.allow, 'GET, HEAD');
    const head = await send(request('HEAD', '/healthz'));
    assert.is(head.status, 200);
    assert.is(head.body, '');
  });
  assert.is(d.admin_bad_requests, 9);
  assert.is(d.admin_requests, 10 + 1); // the ten above plus the /api/stats read before them
  await assertHealthy();
});

test('a garbage method or malformed request line gets 400 on the raw socket and is counted', async () => {
  const bad = [
    request('BR3W', '/healthz'),
    'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n',
    'GET /he lthz HTTP/1.1\r\nHost: x\r\n\r\n',
    `GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nBad Header: 1\r\n\r\n`,
    'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n',
    'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03]), // a TLS ClientHello
  ];
  const d = await deltas(['admin_client_errors'], async () => {
    for (const raw of bad) {
      const a = await send(raw);
      assert.is(a.status, 400, JSON.stringify(raw.toString().slice(0, 40)));
      assert.ok(a.closed);
    }
  });
  assert.is(d.admin_client_errors, bad.length);
  // HTTP/1.1 without Host is refused by the handler (RFC 9112 §3.2), as a counted bad request.
  const noHost = await send('GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n');
  assert.is(noHost.status, 400);
  assert.match(String(json(noHost).error), /Host/);
  // HTTP/1.0 needs no Host.
  assert.is((await send('GET /healthz HTTP/1.0\r\n\r\n')).status, 200);
  await assertHealthy();
});

test('a handler that throws or rejects gets 500, is logged at error level with its path only, and counted', async () => {
  const d = await deltas(['admin_errors', 'admin_requests'], async () => {
    for (const target of ['/debug/throw?secret=query-s3cret', '/debug/throw?async=1']) {
      const a = await send(request('GET', target, { Cookie: `session=${token}` }));
      assert.is(a.status, 500, target);
      assert.equal(json(a), { error: 'internal error' });
    }
  });
  assert.is(d.admin_errors, 2);
  assert.is(d.admin_requests, 2 + 1);
  const lines = sluice.output().split('\n').filter((l) => l.includes('admin request failed'));
  assert.is(lines.length, 2, sluice.output().slice(-2000));
  for (const line of lines) {
    const entry = JSON.parse(line) as { level: number; path: string; method: string };
    assert.is(entry.level, 50); // pino's error level
    assert.is(entry.path, '/debug/throw');
    assert.is(entry.method, 'GET');
  }
  assert.not.match(sluice.output(), /query-s3cret/);
  await assertHealthy();
});

test(`headers over ${adminHttpLimits.maxHeaderBytes} bytes get 431 and a close; just under is served`, async () => {
  const limit = adminHttpLimits.maxHeaderBytes;
  const d = await deltas(['admin_client_errors'], async () => {
    const big = await send(request('GET', '/healthz', { 'X-Big': 'a'.repeat(limit + 100) }));
    assert.is(big.status, 431);
    assert.ok(big.closed);
    const longLine = await send(request('GET', `/healthz?${'q'.repeat(limit + 100)}`));
    assert.is(longLine.status, 431);
    // Many small headers add up the same way.
    const many = Object.fromEntries(Array.from({ length: Math.ceil(limit / 20) + 10 }, (_, i) => [`X-H${i}`, 'v'.repeat(16)]));
    assert.is((await send(request('GET', '/healthz', many))).status, 431);
  });
  assert.is(d.admin_client_errors, 3);
  const under = await send(request('GET', '/healthz', { 'X-Big': 'a'.repeat(limit - 1024) }));
  assert.is(under.status, 200);
  await assertHealthy();
});

test('request bodies: small ones are read and ignored, large or endless ones get 413 and a close', async () => {
  const cap = adminHttpLimits.maxBodyBytes;
  const small = await send(request('GET', '/healthz', { 'Content-Length': String(bodySecret.length) }, bodySecret));
  assert.is(small.status, 200);
  const chunked = await send(request('GET', '/healthz', { 'Transfer-Encoding': 'chunked' }, `${bodySecret.length.toString(16)}\r\n${bodySecret}\r\n0\r\n\r\n`));
  assert.is(chunked.status, 200);
  // A small body on a wrong method still gets its 405.
  assert.is((await send(request('POST', '/healthz', { 'Content-Length': String(bodySecret.length) }, bodySecret))).status, 405);

  const d = await deltas(['admin_bad_requests'], async () => {
    // Declared too large: refused from the headers, before any body byte is read.
    const declared = await send(request('POST', '/healthz', { 'Content-Length': String(1 << 30), Connection: 'keep-alive' }));
    assert.is(declared.status, 413);
    assert.ok(declared.closed, 'closed even though the client asked for keep-alive');
    // Actually sent, over the cap in one write.
    const sent = await send([request('GET', '/healthz', { 'Content-Length': String(cap * 4) }), Buffer.alloc(cap * 4, 0x61)]);
    assert.is(sent.status, 413);
    assert.ok(sent.closed);
    // Chunked and endless (bounded here: 64 chunks of 1 KiB, 5 ms apart): cut once past the cap.
    const chunk = `400\r\n${bodySecret.padEnd(1024, '.')}\r\n`;
    const endless = await send([request('GET', '/healthz', { 'Transfer-Encoding': 'chunked', Connection: 'keep-alive' }), ...Array(64).fill(chunk)], { gapMs: 5, waitMs: 5000 });
    assert.is(endless.status, 413);
    assert.ok(endless.closed);
    assert.ok(endless.elapsedMs < 5000);
    assert.equal(json(endless), { error: 'request body too large', limitBytes: cap });
    // Expect: 100-continue: a too-large body is refused without a "100 Continue" first.
    const expectBig = await send(request('POST', '/healthz', { Expect: '100-continue', 'Content-Length': String(cap + 1) }));
    assert.is(expectBig.status, 413);
    assert.ok(expectBig.closed);
    // An expectation other than 100-continue gets 417.
    assert.is((await send(request('GET', '/healthz', { Expect: 'teapot' }))).status, 417);
  });
  assert.is(d.admin_bad_requests, 5);
  const expectSmall = await send(request('GET', '/healthz', { Expect: '100-continue', 'Content-Length': '3' }), { waitMs: 1000 });
  assert.is(expectSmall.status, 100);
  // A client that leaves halfway through its body gets nothing and breaks nothing.
  const left = await send(request('GET', '/healthz', { 'Content-Length': '100' }, 'only-part'), { waitMs: 300 });
  assert.is(left.data.length, 0);
  await assertHealthy();
});

test('a header trickle is cut at the headers timeout, a body trickle at the request timeout (408)', async () => {
  const { headersTimeoutMs, requestTimeoutMs, connectionsCheckingIntervalMs } = adminHttpLimits;
  const gapMs = 300;
  const waitMs = requestTimeoutMs + connectionsCheckingIntervalMs + 3000;
  // Bounded trickles: enough lines or bytes to outlast the wait, one every gapMs.
  const lines = Math.ceil(waitMs / gapMs) + 1;
  const d = await deltas(['admin_timeouts'], async () => {
    const [headers, body] = await Promise.all([
      send(['GET /healthz HTTP/1.1\r\n', ...Array.from({ length: lines }, (_, i) => `X-Slow-${i}: ${token}\r\n`)], { gapMs, waitMs }),
      send([request('GET', '/healthz', { 'Content-Length': String(lines) }), ...Array(lines).fill('a')], { gapMs, waitMs }),
    ]);
    for (const [name, a, limitMs] of [['headers', headers, headersTimeoutMs], ['body', body, requestTimeoutMs]] as const) {
      assert.is(a.status, 408, `${name}: ${a.data.toString('latin1').slice(0, 200)}`);
      assert.ok(a.closed, name);
      assert.ok(a.elapsedMs >= limitMs - 100, `${name} cut after ${a.elapsedMs} ms, limit ${limitMs}`);
      assert.ok(a.elapsedMs < limitMs + connectionsCheckingIntervalMs + 1500, `${name} cut after ${a.elapsedMs} ms, limit ${limitMs}`);
    }
  });
  assert.is(d.admin_timeouts, 2);
  await assertHealthy();
});

test(`more than ${adminHttpLimits.maxConnections} open admin connections: the extra ones are closed and counted`, async () => {
  const open: Socket[] = [];
  const closedEarly = new Set<Socket>();
  const extra = 4;
  let refused = 0;
  try {
    const d = await deltas(['admin_connections_refused'], async () => {
      for (let i = 0; i < adminHttpLimits.maxConnections + extra; i++) {
        const s = netConnect(sluice.adminPort, '127.0.0.1');
        s.on('error', () => {});
        s.on('close', () => closedEarly.add(s));
        open.push(s);
        await once(s, 'connect');
      }
      await new Promise((r) => setTimeout(r, 300));
      refused = closedEarly.size;
      // The refused ones are closed now; close the rest so the next counter read gets a slot.
      for (const s of open) s.destroy();
      await new Promise((r) => setTimeout(r, 200));
    });
    // The test's own keep-alive fetch connection may hold a slot too, so at least `extra` are refused.
    assert.ok(refused >= extra, `refused ${refused}`);
    assert.is(d.admin_connections_refused, refused);
  } finally {
    for (const s of open) s.destroy();
  }
  await assertHealthy();
});

test('after all of it: the process lives, /healthz is 200, an MQTT client connects, nothing secret was logged', async () => {
  await assertHealthy();
  const client = await connectClient(sluice.port, { clientId: 'after-admin-abuse' });
  assert.ok(client.connected);
  await client.endAsync();
  const c = await counters();
  for (const name of ['admin_requests', 'admin_bad_requests', 'admin_errors', 'admin_client_errors', 'admin_timeouts', 'admin_connections_refused']) {
    assert.ok(c[name] > 0, `${name} = ${c[name]}`);
  }
  const out = sluice.output();
  assert.not.match(out, new RegExp(token));
  assert.not.match(out, new RegExp(bodySecret));
  assert.not.match(out, /Bearer/);
});

test.run();
