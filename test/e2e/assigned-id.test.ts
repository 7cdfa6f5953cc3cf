// End to end: an MQTT 5 client that connects with an empty client id gets an Assigned Client Identifier
// from its broker (Mosquitto assigns one). Sluice reads that CONNACK and pins the id to the broker, so the
// client's reconnect with it finds its session: CONNACK session present, on every try. Without the pin
// the id would be placed by hash, on the right broker one time in three.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { startMosquittos, type MosquittoCluster } from '../helpers/mosquitto.ts';
import { startSluice, type SluiceProcess } from '../helpers/sluice.ts';
import { stats } from '../helpers/stats.ts';

let cluster: MosquittoCluster;
let sluice: SluiceProcess;

test.before(async () => {
  cluster = await startMosquittos(3);
  sluice = await startSluice({ workers: 2, brokers: cluster.brokers.map((b) => ({ name: b.name, address: b.address })), balance: { strategy: 'sticky' }, log: { level: 'warn' } });
});

test.after(async () => {
  await sluice?.stop();
  await cluster?.stop();
});

/** Connects (MQTT 5, a session that outlives the connection by 5 minutes), returns the CONNACK and the
 *  open socket. `cleanStart` true for the first connection: its session starts new, and is kept after. */
function connectV5(clientId: string, cleanStart: boolean): Promise<{ connack: mqttPacket.IConnackPacket; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(sluice.port, '127.0.0.1');
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('no CONNACK')); }, 3000);
    parser.on('packet', (p) => { clearTimeout(timer); resolve({ connack: p as mqttPacket.IConnackPacket, socket }); });
    socket.on('data', (d) => parser.parse(d));
    socket.on('error', reject);
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId, clean: cleanStart, keepalive: 30, properties: { sessionExpiryInterval: 300 } }, { protocolVersion: 5 }));
  });
}

async function disconnect(socket: Socket): Promise<void> {
  await new Promise<void>((resolve) => socket.end(mqttPacket.generate({ cmd: 'disconnect', reasonCode: 0 }, { protocolVersion: 5 }), resolve));
  await new Promise((r) => setTimeout(r, 50));
}

test('an empty client id gets an id from its broker; the reconnect with it finds its session, every time', async () => {
  const before = await stats(sluice);
  for (let i = 0; i < 6; i++) {
    const first = await connectV5('', true);
    const assigned = first.connack.properties?.assignedClientIdentifier;
    assert.ok(typeof assigned === 'string' && assigned.length > 0, 'Mosquitto assigned an id');
    assert.is(first.connack.sessionPresent, false);
    await disconnect(first.socket);
    const again = await connectV5(assigned!, false);
    assert.is(again.connack.reasonCode, 0);
    assert.is(again.connack.sessionPresent, true, `client ${i} (${assigned}) found its session`);
    await disconnect(again.socket);
  }
  const after = await stats(sluice);
  assert.is(after.counters.assigned_ids_pinned - before.counters.assigned_ids_pinned, 6);
});

test.run();
