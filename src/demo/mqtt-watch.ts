// A one-shot MQTT 3.1.1 watcher for the demo's readiness checks: connect to a broker, subscribe to one
// topic, and wait until a given payload arrives there (a retained one counts).
import { connect } from 'node:net';
import mqttPacket from 'mqtt-packet';

export type WatchTarget = { host: string; port: number; clientId: string; topic: string; payload: string };

/** True once `payload` arrives on `topic`; false when the broker refuses, closes, or `timeoutMs` passes. */
export function waitForPayload(target: WatchTarget, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(target.port, target.host);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (socket.writable) socket.end(mqttPacket.generate({ cmd: 'disconnect' }));
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
    socket.on('connect', () => {
      socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: target.clientId, clean: true, keepalive: 30 }));
    });
    socket.on('data', (chunk) => parser.parse(chunk));
    parser.on('error', () => finish(false));
    parser.on('packet', (packet) => {
      if (packet.cmd === 'connack') {
        if (packet.returnCode !== 0) { finish(false); return; }
        socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: target.topic, qos: 0 }] }));
      } else if (packet.cmd === 'publish' && packet.topic === target.topic && String(packet.payload) === target.payload) {
        finish(true);
      }
    });
  });
}

/** Retries waitForPayload (the broker may not listen yet) until it succeeds or `timeoutMs` has passed. */
export async function waitForPayloadUntil(target: WatchTarget, timeoutMs: number, retryMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    if (await waitForPayload(target, left)) return true;
    await new Promise((r) => setTimeout(r, Math.min(retryMs, Math.max(0, deadline - Date.now()))));
  }
}
