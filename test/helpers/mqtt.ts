// Real-client helpers for end-to-end tests: MQTT.js connections, raw CONNECT bytes, raw sockets.
import { connect as netConnect, type Socket } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';

/** Connects once (no retries): rejects on an error, a refusal or a close before CONNACK, never hangs. */
export async function connectClient(port: number, opts: IClientOptions): Promise<MqttClient> {
  // allowRetries false: without it connectAsync waits forever for a connection closed before its CONNACK.
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000, ...opts }, false);
}

export function connectBytes(opts: { clientId: string; protocolVersion?: 3 | 4 | 5; username?: string; password?: string; clean?: boolean }): Buffer {
  const v = opts.protocolVersion ?? 4;
  return mqttPacket.generate({
    cmd: 'connect', protocolId: v === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: v, clientId: opts.clientId,
    clean: opts.clean ?? true, keepalive: 30, username: opts.username,
    password: opts.password === undefined ? undefined : Buffer.from(opts.password),
  } as mqttPacket.IConnectPacket, { protocolVersion: v });
}

export type RawResult = { data: Buffer; closed: boolean; error?: string; elapsedMs: number };

/** Sends `chunks` (with `gapMs` between them) and collects what comes back until close or `waitMs`. */
export function rawExchange(port: number, chunks: Buffer[], opts: { waitMs?: number; gapMs?: number; stopAfterBytes?: number } = {}): Promise<RawResult> {
  return new Promise((resolve) => {
    const start = Date.now();
    const socket: Socket = netConnect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean, error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ data: Buffer.concat(got), closed, error, elapsedMs: Date.now() - start });
    };
    const timer = setTimeout(() => finish(false), opts.waitMs ?? 3000);
    socket.on('data', (d) => {
      got.push(d);
      if (opts.stopAfterBytes && Buffer.concat(got).length >= opts.stopAfterBytes) finish(false);
    });
    socket.on('error', (e: NodeJS.ErrnoException) => finish(true, e.code));
    socket.on('close', () => finish(true));
    socket.on('connect', async () => {
      for (const c of chunks) {
        if (socket.destroyed) return;
        socket.write(c);
        if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
      }
    });
  });
}

/** Parses every MQTT packet in `buf` (for asserting CONNACK reason codes). */
export function parsePackets(buf: Buffer, protocolVersion: number): mqttPacket.Packet[] {
  const parser = mqttPacket.parser({ protocolVersion });
  const packets: mqttPacket.Packet[] = [];
  parser.on('packet', (p) => packets.push(p));
  parser.parse(buf);
  return packets;
}

/** The reason code (MQTT 5) or return code (3.1/3.1.1) of the CONNACK that `data` holds; throws if it holds none. */
export function connackCode(data: Buffer, version: 4 | 5): number | undefined {
  const [p] = parsePackets(data, version) as mqttPacket.IConnackPacket[];
  if (p?.cmd !== 'connack') throw new Error(`CONNACK expected, got ${data.toString('hex')}`);
  return version === 5 ? p.reasonCode : p.returnCode;
}
