// Listeners added and removed by a reload (SIGHUP), in the primary. The new addresses are claimed first
// (no other process may serve them: address-claim.ts), the TLS files of the new list are read and
// checked, then every worker opens the new listeners and closes the gone ones (workers/listeners.ts). Any
// failure puts the old list back and refuses the reload whole. Clients a removed listener accepted go on;
// a listener whose settings changed on the same address is opened anew before the old one closes.
import type { Logger } from 'pino';
import type { ListenerConfig } from '../config/resolved.ts';
import { ErrorCode, SluiceError } from '../errors.ts';
import type { TlsMaterial } from '../tls/material.ts';
import type { AddressClaim } from './address-claim.ts';
import type { ListenerSlots } from './listener-slots.ts';

export type ListenerWorkers = {
  setListeners(listeners: ListenerConfig[], tls: (TlsMaterial | undefined)[], slots: number[]): Promise<{ address: string; error: string } | undefined>;
};
export type ListenerTls = {
  readonly material: (TlsMaterial | undefined)[];
  check(listeners: ListenerConfig[]): Promise<(TlsMaterial | undefined)[]>;
  follow(listeners: ListenerConfig[], material: (TlsMaterial | undefined)[]): void;
  serialized<T>(fn: () => Promise<T>): Promise<T>;
};

export class ListenerControl {
  #listeners: ListenerConfig[];
  readonly #claim: AddressClaim;
  readonly #workers: ListenerWorkers;
  readonly #tls: ListenerTls;
  readonly #log: Logger;
  readonly #slots: ListenerSlots;

  /** `slots`: the listeners' count slots, committed for `listeners` already. */
  constructor(listeners: ListenerConfig[], claim: AddressClaim, workers: ListenerWorkers, tls: ListenerTls, log: Logger, slots: ListenerSlots) {
    this.#listeners = listeners;
    this.#slots = slots;
    this.#claim = claim;
    this.#workers = workers;
    this.#tls = tls;
    this.#log = log;
  }

  /** Makes `next` the listeners of every worker, or throws (SLUICE_ERR_LISTEN, or the TLS check's reason)
   *  with the running ones unchanged. */
  apply(next: ListenerConfig[]): Promise<void> {
    // In the TLS reloader's order: the certificates it publishes are always for the workers' list.
    return this.#tls.serialized(() => this.#applyNow(next));
  }

  async #applyNow(next: ListenerConfig[]): Promise<void> {
    const before = this.#listeners;
    const beforeTls = this.#tls.material;
    const material = await this.#tls.check(next);
    const binds = (list: ListenerConfig[]) => new Set(list.map((l) => l.bind.address));
    const [nextBinds, beforeBinds] = [binds(next), binds(before)];
    const added = next.map((l) => l.bind).filter((b) => !beforeBinds.has(b.address));
    const removed = before.map((l) => l.bind).filter((b) => !nextBinds.has(b.address));
    const slots = this.#slots.plan(next);
    await this.#claim.add(added);
    const failed = await this.#workers.setListeners(next, material, slots);
    if (failed) {
      const stillFailed = await this.#workers.setListeners(before, beforeTls, this.#slots.plan(before));
      if (stillFailed) this.#log.error({ address: stillFailed.address, error: stillFailed.error }, 'reload: a worker could not go back to its listeners');
      await this.#claim.drop(added);
      throw new SluiceError(ErrorCode.listen, `cannot listen on ${failed.address || 'a new listener'}: ${failed.error}`);
    }
    await this.#claim.drop(removed);
    this.#slots.commit(next, slots);
    this.#tls.follow(next, material);
    this.#listeners = next;
    this.#log.info({ listeners: next.map((l) => (l.protocol === 'mqtt' ? l.bind.address : `${l.protocol}://${l.bind.address}`)), added: added.map((b) => b.address), removed: removed.map((b) => b.address) }, 'listeners changed');
  }
}
