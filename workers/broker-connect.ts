// Opens a TCP connection to a broker with a timeout; resolves to the socket or the reason it failed.
import { connect, type Socket } from 'node:net';

export type BrokerConnectResult = { ok: true; socket: Socket } | { ok: false; reason: string };

export function connectBroker(host: string, port: number, timeoutMs: number): Promise<BrokerConnectResult> {
  return new Promise((resolve) => {
    // allowHalfOpen: a FIN from the broker must not end our write side before the client's bytes are sent.
    const socket = connect({ host, port, allowHalfOpen: true, noDelay: true });
    let done = false;
    const finish = (result: BrokerConnectResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('error', onError);
      if (!result.ok) socket.destroy();
      resolve(result);
    };
    const onConnect = () => finish({ ok: true, socket });
    const onError = (err: NodeJS.ErrnoException) => finish({ ok: false, reason: err.code ?? err.message });
    const timer = setTimeout(() => finish({ ok: false, reason: 'ETIMEDOUT' }), timeoutMs);
    socket.once('connect', onConnect);
    socket.once('error', onError);
  });
}
