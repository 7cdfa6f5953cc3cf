// The demo cluster (`demo:` in the config): picks the engine, starts its brokers, and says on one
// start-up line which engine and brokers run and which MQTT protocol levels they serve.
import type { Logger } from 'pino';
import type { BrokerConfig, ResolvedConfig } from '../config/resolved.ts';
import { startAedesCluster } from './aedes-cluster.ts';
import { chooseDemoEngine, findMosquitto, servedProtocols } from './engine.ts';
import { startMosquittoCluster } from './mosquitto-cluster.ts';

export type DemoCluster = { close(): Promise<void> };

/** Starts the demo brokers (`brokers` are the demo's, from config resolution); throws SLUICE_ERR_DEMO. */
export async function startDemoCluster(demo: NonNullable<ResolvedConfig['demo']>, brokers: BrokerConfig[], log: Logger): Promise<DemoCluster> {
  const choice = chooseDemoEngine(demo.engine, findMosquitto());
  const mqtt = servedProtocols(choice.engine);
  const common = { engine: choice.engine, why: choice.why, brokers: brokers.map((b) => `${b.name}=${b.address}`), mqtt };
  if (choice.engine === 'mosquitto') {
    const cluster = await startMosquittoCluster(brokers, choice.mosquittoPath, log);
    log.info({ ...common, ...cluster.info }, `demo cluster ready: ${brokers.length} Mosquitto brokers serving ${mqtt}`);
    return cluster;
  }
  const cluster = await startAedesCluster(brokers, log);
  log.info({ ...common, topology: 'in-process, one shared message bus' }, `demo cluster ready: ${brokers.length} in-process aedes brokers serving ${mqtt}`);
  return cluster;
}
