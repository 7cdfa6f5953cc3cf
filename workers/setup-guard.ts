// The steps of a connection before it has a ClientConnection (a TLS handshake's end, a WebSocket
// upgrade, a front balancer's PROXY header) run in listener callbacks: a throw there (a Sluice bug) would
// reach the worker's top level. Each runs guarded instead: that one socket is closed, the fault logged
// and counted (`listener_internal_errors`), and the worker goes on serving everyone else.
import type { WorkerContext } from './worker-context.ts';

/** SLUICE_TEST_HOOKS=1 only: a client that asks for this (SNI name, WebSocket path) makes its setup throw. */
export const kThrowingSetupName = 'sluice-test-hook-setup-throws';
export const setupTestHooks = process.env.SLUICE_TEST_HOOKS === '1';

export function guardSetup<A extends unknown[]>(ctx: WorkerContext, step: string, socketOf: (...args: A) => { destroy(): void } | undefined, fn: (...args: A) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      fn(...args);
    } catch (err) {
      ctx.counters.add('listener_internal_errors');
      ctx.faultLog.error('listener_internal_error', { step, err: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }, 'internal error setting up a connection; closed');
      try {
        socketOf(...args)?.destroy();
      } catch { /* already gone */ }
    }
  };
}
