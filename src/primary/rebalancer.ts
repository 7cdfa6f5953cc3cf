// Opt-in rebalance (balance.rebalance_rate): a broker that comes up while Sluice runs (added by a reload or
// discovery, or back from down) holds none of the clients already connected, and with sticky pins few of
// them would ever come to it. Its share is moved to it at a bounded rate: each tick the workers are asked
// to move their part of the tick's budget among the clients homed on it (workers/rebalance.ts: the pin
// moves first, then the client is closed and its reconnect lands there), until it holds its weighted
// share of all forwarded clients, or it stops gaining clients (none homed on it is left elsewhere). Bounded
// like drain_close_rate, so the reconnects (session takeovers on a clustered broker) spread out.
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config/resolved.ts';
import type { BrokerTable } from '../brokers/broker-table.ts';
import { takesNewClients } from '../brokers/takes-clients.ts';

/** Ticks a second: the moves of one second are spread over it. */
const kTickMs = 200;
/** A rebalance that gained its broker no client for this long (at least 3 moves' worth of time) ends. */
const kStallMs = 5000;

export type MoveToBroker = (broker: number, count: number) => void;

type Move = { credit: number; most: number; sinceGainMs: number; moved: number };

export class Rebalancer {
  readonly #table: BrokerTable;
  readonly #brokers: () => readonly BrokerConfig[];
  readonly #rate: () => number;
  readonly #workers: number;
  readonly #move: MoveToBroker;
  readonly #log: Logger;
  /** Per slot: when it last came up, as last seen (a change: it came up since). */
  readonly #seenUp = new Map<number, number>();
  /** Rebalances under way, by broker slot. */
  readonly #moves = new Map<number, Move>();
  readonly #timer: NodeJS.Timeout;

  constructor(table: BrokerTable, brokers: () => readonly BrokerConfig[], rate: () => number, workers: number, move: MoveToBroker, log: Logger) {
    this.#table = table;
    this.#brokers = brokers;
    this.#rate = rate;
    this.#workers = workers;
    this.#move = move;
    this.#log = log;
    this.#timer = setInterval(() => this.tick(), kTickMs);
    this.#timer.unref();
  }

  /** One tick (the timer's; tests call it). */
  tick(): void {
    const brokers = this.#brokers();
    const rate = this.#rate();
    brokers.forEach((b, i) => {
      // Always watched, so turning the rate on later does not take an old come-up for a new one.
      const up = this.#table.upSince(i);
      // upSince is 0 for a broker up since the start: only a later come-up (a new slot's too) is news.
      const cameUp = up !== 0 && (this.#seenUp.get(i) ?? 0) !== up;
      this.#seenUp.set(i, up);
      const move = this.#moves.get(i);
      if (rate <= 0 || !takesNewClients(b, i, this.#table)) {
        if (move) this.#end(b, i, move, 'the broker no longer takes clients (or rebalance_rate is 0)');
        this.#moves.delete(i);
        return;
      }
      if (cameUp && !move) {
        this.#moves.set(i, { credit: 0, most: this.#table.liveConnections(i), sinceGainMs: 0, moved: 0 });
        this.#log.info({ broker: b.name, address: b.address, share: this.#share(brokers, i), rate }, 'rebalance started: moving clients homed on a broker that came up');
      }
      if (this.#moves.has(i)) this.#step(brokers, i, rate);
    });
  }

  #step(brokers: readonly BrokerConfig[], i: number, rate: number): void {
    const move = this.#moves.get(i)!;
    const live = this.#table.liveConnections(i);
    const deficit = this.#share(brokers, i) - live;
    if (deficit <= 0) {
      this.#end(brokers[i], i, move, 'it holds its share');
      this.#moves.delete(i);
      return;
    }
    if (live > move.most) {
      move.most = live;
      move.sinceGainMs = 0;
    } else if ((move.sinceGainMs += kTickMs) >= Math.max(kStallMs, 3000 / rate)) {
      this.#end(brokers[i], i, move, 'no more clients homed on it are elsewhere');
      this.#moves.delete(i);
      return;
    }
    move.credit = Math.min(move.credit + (rate * kTickMs) / 1000, rate); // at most a second's worth banked
    const budget = Math.min(Math.floor(move.credit), deficit);
    if (budget < 1) return;
    // Every worker is asked for its part (a worker with fewer such clients moves what it has).
    this.#move(i, Math.ceil(budget / this.#workers));
    move.credit -= budget;
    move.moved += budget;
  }

  /** Broker i's weighted share of every forwarded client, among the brokers that take new clients. */
  #share(brokers: readonly BrokerConfig[], i: number): number {
    let total = 0;
    let weights = 0;
    brokers.forEach((b, j) => {
      total += this.#table.liveConnections(j);
      if (takesNewClients(b, j, this.#table)) weights += b.weight;
    });
    return weights > 0 ? Math.floor((total * brokers[i].weight) / weights) : 0;
  }

  #end(b: BrokerConfig, i: number, move: Move, why: string): void {
    this.#log.info({ broker: b.name, address: b.address, movesAsked: move.moved, clients: this.#table.liveConnections(i) }, `rebalance ended: ${why}`);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
