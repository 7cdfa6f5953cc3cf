// The demo cluster on real Mosquitto brokers, joined into one logical cluster by a star of MQTT 5
// bridges (see mosquitto-config.ts): generated configs in a temp dir, brokers started, bridges up.
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config/resolved.ts';
import { ErrorCode, SluiceError } from '../errors.ts';
import { bridgeName, bridgeStateTopic, dialHost, mosquittoConfText } from './mosquitto-config.ts';
import { brokerUser, MosquittoProcess, pdeathsigUsable } from './mosquitto-process.ts';
import { waitForPayloadUntil } from './mqtt-watch.ts';

const bridgeTimeoutMs = 10_000;

export type MosquittoCluster = {
  /** Facts for the start-up line. */
  info: { mosquitto: string; topology: string; brokerPids: Record<string, number | undefined>; dir: string; pdeathsig: boolean; brokerUid?: number };
  close(): Promise<void>;
};

export async function startMosquittoCluster(brokers: BrokerConfig[], mosquittoPath: string, log: Logger): Promise<MosquittoCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-demo-'));
  const user = brokerUser();
  // The broker reads its config as `user`; the dir holds nothing secret.
  if (user) chownSync(dir, user.uid, user.gid);
  const pdeathsig = pdeathsigUsable();
  if (!pdeathsig) log.warn('setpriv --pdeathsig is not usable here: if Sluice is killed hard (SIGKILL), its demo brokers keep running');

  // Waits until leaf `i` says its bridge to the hub is connected (a retained, local-only $SYS topic).
  const bridgeUp = (i: number, timeoutMs: number) => waitForPayloadUntil({
    host: dialHost(brokers[i].host), port: brokers[i].port, clientId: `sluice-demo-watch-${i + 1}`, topic: bridgeStateTopic(brokers, i), payload: '1',
  }, timeoutMs);

  const processes = brokers.map((broker, i) => {
    const confPath = join(dir, `${broker.name}.conf`);
    writeFileSync(confPath, mosquittoConfText(brokers, i));
    if (user) chownSync(confPath, user.uid, user.gid);
    return new MosquittoProcess({
      broker, mosquittoPath, confPath, pdeathsig, user, log,
      afterRestart: i === 0 ? undefined : async () => ({ bridged: await bridgeUp(i, bridgeTimeoutMs) }),
    });
  });

  // Whatever way Sluice ends (an uncaught error, process.exit), the brokers and the configs go with it.
  const onExit = () => {
    for (const p of processes) p.killNow();
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', onExit);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await Promise.all(processes.map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
    process.off('exit', onExit);
  };

  try {
    // The hub first, so the other brokers' bridges connect on their first try.
    await processes[0].start();
    log.info({ broker: brokers[0].name, address: brokers[0].address, brokerPid: processes[0].pid }, 'demo broker listening');
    await settleAll(processes.slice(1).map(async (p, j) => {
      await p.start();
      log.info({ broker: p.name, address: brokers[j + 1].address, brokerPid: p.pid, bridge: bridgeName(brokers, j + 1) }, 'demo broker listening');
    }));
    await settleAll(processes.slice(1).map(async (p, j) => {
      if (!(await bridgeUp(j + 1, bridgeTimeoutMs))) {
        throw new SluiceError(ErrorCode.demo, `demo broker ${p.name}: bridge ${bridgeName(brokers, j + 1)} to ${brokers[0].address} not connected within ${bridgeTimeoutMs} ms:\n  ${p.tail.replaceAll('\n', '\n  ')}`);
      }
    }));
  } catch (err) {
    await close();
    throw err;
  }

  const leaves = brokers.slice(1).map((b) => b.name);
  return {
    info: {
      mosquitto: mosquittoPath,
      topology: leaves.length === 0 ? 'one broker' : `star: ${leaves.join(', ')} bridged to ${brokers[0].name} (MQTT 5 bridges, all topics but $SYS)`,
      brokerPids: Object.fromEntries(processes.map((p) => [p.name, p.pid])),
      dir,
      pdeathsig,
      brokerUid: user?.uid,
    },
    close,
  };
}

/** Like Promise.all, but waits for every promise before throwing the first failure (nothing still starting). */
async function settleAll(promises: Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
