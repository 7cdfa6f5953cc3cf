// The floor of TLS on Node sockets (bench target node-tls): Node's TLS server, one net.Socket to a
// backend per client (round-robin) and stream.pipe both ways; nothing else. No CONNECT reading, no
// placement, no counters, no limits. What it costs per handshake and per GB is what any balancer that
// terminates TLS with Node's `tls` module pays before doing any work of its own.
//   node bench/node-tls-proxy.ts --listen PORT --backends P1,P2,... --cert FILE --key FILE
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createServer } from 'node:tls';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { listen: { type: 'string' }, backends: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' } } });
if (!values.listen || !values.backends || !values.cert || !values.key) {
  process.stderr.write('usage: node bench/node-tls-proxy.ts --listen PORT --backends P1,P2,... --cert FILE --key FILE\n');
  process.exit(2);
}
const backends = values.backends.split(',').map(Number);
let next = 0;

const server = createServer({ cert: readFileSync(values.cert), key: readFileSync(values.key), allowHalfOpen: true });
server.on('secureConnection', (client) => {
  const broker = connect({ port: backends[next++ % backends.length], host: '127.0.0.1', allowHalfOpen: true, noDelay: true });
  client.setNoDelay(true);
  // A reset on either side ends both; pipe() passes FIN on as a half-close and applies backpressure.
  client.on('error', () => broker.destroy());
  broker.on('error', () => client.destroy());
  client.on('close', () => broker.destroy());
  broker.on('close', () => client.destroy());
  client.pipe(broker);
  broker.pipe(client);
});
server.on('tlsClientError', (_err, socket) => socket.destroy());
server.listen(Number(values.listen), '127.0.0.1');
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));
