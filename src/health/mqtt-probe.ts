// One active MQTT health check of a broker: TCP connect, CONNECT (clean session, so the broker keeps
// nothing), CONNACK with reason 0 expected, DISCONNECT, close; all within a timeout. A broker whose port
// accepts but never answers MQTT fails it (a TCP check would pass it).
import { connect } from 'node:net';
import mqtt from 'mqtt-packet';

export type MqttProbeOptions = {
  timeoutMs: number;
  clientId: string;
  username?: string;
  /** Never logged: it is read from a file and only ever written into the CONNECT. */
  password?: Buffer;
  /** 4 = MQTT 3.1.1, 5 = MQTT 5.0. */
  protocolVersion: 4 | 5;
};

/**
 * connect-failed: no TCP connection (detail: the errno); timeout: no CONNACK within timeoutMs; refused: a
 * CONNACK with a non-zero code (detail: the code); not-mqtt: the first bytes back are not a CONNACK;
 * closed: the broker closed before answering. (http-status, http-failed: the HTTP readiness check,
 * http-probe.ts.)
 */
export type ProbeFailure = 'connect-failed' | 'timeout' | 'refused' | 'not-mqtt' | 'closed' | 'http-status' | 'http-failed';
export type ProbeResult = { ok: true; ms: number } | { ok: false; reason: ProbeFailure; detail: string; ms: number };

/** Probes host:port once; never rejects, every outcome is a ProbeResult. */
export function probeMqtt(host: string, port: number, opts: MqttProbeOptions): Promise<ProbeResult> {
  const startedMs = performance.now();
  return new Promise((resolve) => {
    const socket = connect({ host, port, noDelay: true });
    const parser = mqtt.parser({ protocolVersion: opts.protocolVersion });
    let done = false;
    let connected = false;
    const finish = (result: ProbeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      parser.removeAllListeners();
      if (!result.ok) socket.destroy();
      resolve(result);
    };
    const fail = (reason: ProbeFailure, detail: string) => finish({ ok: false, reason, detail, ms: performance.now() - startedMs });
    const timer = setTimeout(() => fail('timeout', `no CONNACK within ${opts.timeoutMs}ms`), opts.timeoutMs);
    socket.on('connect', () => {
      connected = true;
      socket.write(mqtt.generate({
        cmd: 'connect', protocolId: 'MQTT', protocolVersion: opts.protocolVersion, clean: true, keepalive: 0,
        clientId: opts.clientId, username: opts.username, password: opts.password,
      }, { protocolVersion: opts.protocolVersion }));
    });
    socket.on('data', (chunk: Buffer) => {
      if (!done) parser.parse(chunk);
    });
    parser.on('packet', (packet: mqtt.Packet) => {
      if (packet.cmd !== 'connack') return fail('not-mqtt', `first packet is ${packet.cmd}, not connack`);
      const code = (opts.protocolVersion === 5 ? packet.reasonCode : packet.returnCode) ?? 0;
      if (code !== 0) return fail('refused', `CONNACK code 0x${code.toString(16).padStart(2, '0')}`);
      finish({ ok: true, ms: performance.now() - startedMs });
      // A clean goodbye, then the socket goes: the broker logs a disconnect, not a lost client.
      socket.end(mqtt.generate({ cmd: 'disconnect' }, { protocolVersion: opts.protocolVersion }), () => socket.destroy());
    });
    parser.on('error', (err: Error) => fail('not-mqtt', err.message));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (done) return;
      // Before 'connect' an error means no connection at all; after it, the broker reset us.
      if (!connected) fail('connect-failed', err.code ?? err.message);
      else fail('closed', err.code ?? err.message);
    });
    socket.on('close', () => fail('closed', 'connection closed before CONNACK'));
  });
}
