// The demo cluster on aedes: in-process brokers that share one message emitter and one persistence, so
// a subscriber placed on one broker receives what a publisher on another sends, like a real cluster.
// aedes speaks MQTT 3.1 and 3.1.1 only; mosquitto-cluster.ts serves MQTT 5 too.
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import mqemitter from 'mqemitter';
import memoryPersistenceModule from 'aedes-persistence';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config/resolved.ts';

export type AedesCluster = { close(): Promise<void> };

export async function startAedesCluster(brokers: BrokerConfig[], log: Logger): Promise<AedesCluster> {
  const mq = mqemitter({ concurrency: 100 });
  // The package is CommonJS whose module.exports is the factory; its .d.ts declares it as a default export.
  const memoryPersistence = memoryPersistenceModule as unknown as () => unknown;
  const persistence = memoryPersistence();
  const started: { aedes: Aedes; server: Server }[] = [];
  const close = async () => {
    for (const { aedes, server } of started.splice(0)) {
      server.close();
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    }
  };
  try {
    for (const b of brokers) {
      const aedes = await Aedes.createBroker({ id: b.name, mq, persistence });
      const server = createServer(aedes.handle);
      started.push({ aedes, server });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(b.port, b.host, () => resolve());
      });
      aedes.on('clientError', (client, err) => log.debug({ broker: b.name, clientId: client?.id, err: err.message }, 'demo broker client error'));
      log.info({ broker: b.name, address: b.address }, 'demo broker listening');
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { close };
}
