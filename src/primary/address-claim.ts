// Before workers listen with SO_REUSEPORT: make sure no other process serves the same address. With
// SO_REUSEPORT the kernel would let a second Sluice (a stale unit, a deploy typo) bind the port too and
// split new connections between two processes with different configs; that start must fail instead.
//
// Two checks per listener address:
// - a claim: an abstract unix socket named after the address (Linux), held for the life of this process.
//   A second Sluice fails to bind it (EADDRINUSE) and asks the holder for its pid. Two Sluices starting at
//   the same moment cannot both pass: binding the name is atomic.
// - a probe: a listen on the address without SO_REUSEPORT, closed at once. It fails when any process
//   (Sluice or not) listens there, or on a wildcard that covers it; the probe itself never shares the port.
import { connect, createServer, type Server } from 'node:net';
import { SluiceError, ErrorCode } from '../errors.ts';
import type { ListenEndpoint } from '../config/resolved.ts';

export type AddressClaim = {
  /** Claims more addresses (a reload's new listeners; ones held already are skipped): all, or none and
   *  a SLUICE_ERR_LISTEN naming the first that is taken. */
  add(endpoints: readonly ListenEndpoint[]): Promise<void>;
  /** Gives up these addresses (a reload removed their listeners). */
  drop(endpoints: readonly ListenEndpoint[]): Promise<void>;
  release(): Promise<void>;
};

const holderQueryTimeoutMs = 500;

/** Claims every address for this process; throws SLUICE_ERR_LISTEN naming the first that is taken. */
export async function claimListenAddresses(endpoints: readonly ListenEndpoint[]): Promise<AddressClaim> {
  // By address; the value is the claim socket (undefined off Linux: the probe alone).
  const held = new Map<string, Server | undefined>();
  const close = (s: Server | undefined) => new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));
  const drop = async (addresses: readonly string[]) => {
    for (const address of addresses) {
      const s = held.get(address);
      held.delete(address);
      await close(s);
    }
  };
  const add = async (list: readonly ListenEndpoint[]) => {
    const fresh = list.filter((e, i) => !held.has(e.address) && list.findIndex((o) => o.address === e.address) === i);
    const mine: ListenEndpoint[] = [];
    try {
      for (const e of fresh) {
        held.set(e.address, process.platform === 'linux' ? await claim(e) : undefined);
        mine.push(e);
        await probe(e);
      }
    } catch (err) {
      await drop(mine.map((e) => e.address));
      throw err;
    }
  };
  await add(endpoints);
  return { add, drop: (list) => drop(list.map((e) => e.address)), release: () => drop([...held.keys()]) };
}

function claimName(e: ListenEndpoint): string {
  // A leading NUL byte: Linux's abstract namespace, gone with the process, per network namespace like ports.
  return `\0sluice/listen/${e.host ?? '*'}/${e.port}`;
}

async function claim(e: ListenEndpoint): Promise<Server> {
  const server = createServer((s) => {
    // Whoever asks is another Sluice that wants this address: say who holds it.
    s.on('error', () => {});
    s.end(JSON.stringify({ pid: process.pid }) + '\n');
  });
  server.on('error', () => {}); // after listening: nothing a peer does can fail the claim
  try {
    await listenOnce(server, { path: claimName(e) });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw listenError(e, `cannot claim the address: ${(err as Error).message}`);
    const pid = await holderPid(claimName(e));
    throw listenError(e, `already served by another Sluice${pid === undefined ? '' : ` (pid ${pid})`}; stop it first, or listen elsewhere`);
  }
  return server;
}

async function probe(e: ListenEndpoint): Promise<void> {
  const server = createServer();
  try {
    // Without reusePort: refused (EADDRINUSE) while anyone else listens on this address or a wildcard over it.
    await listenOnce(server, { host: e.host, port: e.port, exclusive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw listenError(e, 'EADDRINUSE: already in use by another process (it listens on this address, or on a wildcard address with this port)');
    throw listenError(e, `cannot listen: ${code ?? (err as Error).message}`);
  } finally {
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function listenOnce(server: Server, options: { path?: string; host?: string; port?: number; exclusive?: boolean }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(options, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function holderPid(name: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = connect({ path: name });
    let text = '';
    const done = (pid: number | undefined) => { clearTimeout(timer); s.destroy(); resolve(pid); };
    const timer = setTimeout(() => done(undefined), holderQueryTimeoutMs);
    s.on('data', (d: Buffer) => { text += d; });
    s.on('end', () => {
      try { done((JSON.parse(text) as { pid?: unknown }).pid as number | undefined); } catch { done(undefined); }
    });
    s.on('error', () => done(undefined));
  });
}

function listenError(e: ListenEndpoint, why: string): SluiceError {
  return new SluiceError(ErrorCode.listen, `cannot listen on ${e.address}: ${why}`);
}
