// Consistent-hash strategy: weighted rendezvous (highest random weight) hashing, with optional bounded loads.
//
// Each (key, broker) pair gets a pseudo-random u in (0, 1) from the key's hash and the broker's name
// hash; the broker's score is -weight / ln(u) and brokers are offered by falling score. The first
// broker is broker b with probability weight_b / total (weighted rendezvous, Schindelhauer & Schomaker),
// and adding or removing a broker only moves keys to or from that broker. The order depends only on
// the key, the broker names and the weights (not on the order of the broker list), so independent
// Sluice instances place a client alike without talking. With equal weights the raw 32-bit values are
// compared and no floating point is involved; with unequal ones, Math.log is V8's fdlibm port, the
// same bits on every platform.
import type { BrokerTable } from '../brokers/broker-table.ts';
import { hashKey, mix32 } from '../hash.ts';
import { eligibleBrokers } from './eligible.ts';
import type { SelectionCursor } from './cursor.ts';
import { type BuildContext, type RouteKey, type Selector, walkAll } from './strategy.ts';

/** Bounded loads apply only from this many live connections per broker on average: below it, noise. */
export const kBoundMinLivePerBroker = 4;

const kTwoPow32 = 4294967296;

export class ConsistentHashSelector implements Selector {
  readonly #indexes: number[];
  readonly #weights: number[];
  readonly #totalWeight: number;
  readonly #nameHi: number[];
  readonly #nameLo: number[];
  /** Rank of each broker's name in sorted order: breaks exact score ties the same way everywhere. */
  readonly #nameRank: number[];
  readonly #equalWeights: boolean;
  readonly #loadBound: number;
  readonly #brokerTable: BrokerTable;

  constructor(ctx: BuildContext) {
    ({ indexes: this.#indexes, weights: this.#weights, totalWeight: this.#totalWeight } = eligibleBrokers(ctx));
    const names = this.#indexes.map((i) => ctx.brokers[i].name);
    // Two brokers with one name would share every score: placement would hang on list order.
    if (new Set(names).size !== names.length) throw new RangeError('consistent hashing needs distinct broker names');
    const hashes = names.map((name) => hashKey(name));
    this.#nameHi = hashes.map((h) => h.hi);
    this.#nameLo = hashes.map((h) => h.lo);
    const sorted = names.map((_, k) => k).sort((a, b) => (names[a] < names[b] ? -1 : names[a] > names[b] ? 1 : 0));
    this.#nameRank = new Array<number>(names.length);
    sorted.forEach((k, rank) => (this.#nameRank[k] = rank));
    this.#equalWeights = this.#weights.every((w) => w === this.#weights[0]);
    const loadBound = ctx.loadBound ?? 0;
    if (loadBound !== 0 && !(loadBound >= 1)) throw new RangeError(`loadBound must be >= 1 (or unset), got ${loadBound}`);
    this.#loadBound = loadBound;
    this.#brokerTable = ctx.brokerTable;
  }

  /**
   * One pass: every broker's score for `key` into the cursor, and the best of them. With bounded
   * loads (and enough connections for them to apply) the same pass reads the live counts, and a
   * second marks the brokers at their bound: those come after every other broker.
   */
  first(key: RouteKey, cursor: SelectionCursor): number {
    const n = this.#indexes.length;
    cursor.offered = 0;
    if (n === 0) return -1;
    cursor.reserve(n);
    const score = cursor.scores;
    const over = cursor.aux;
    const { hi, lo } = key.hash;
    const bounded = this.#loadBound !== 0 && n > 1;
    let total = 0;
    for (let k = 0; k < n; k++) {
      const u32 = mix32(mix32(lo, this.#nameLo[k]), hi ^ this.#nameHi[k]);
      // -w / ln(u) grows with u, so with equal weights u itself orders the brokers, exactly.
      score[k] = this.#equalWeights ? u32 : -this.#weights[k] / Math.log((u32 + 0.5) / kTwoPow32);
      if (bounded) {
        const live = this.#brokerTable.liveConnections(this.#indexes[k]);
        over[k] = live; // parked here; #markOverBound turns it into the over-bound mark
        total += live;
      } else {
        over[k] = 0;
      }
    }
    if (bounded) this.#markOverBound(cursor, n, total);
    let best = 0;
    for (let k = 1; k < n; k++) if (this.#precedes(score, over, k, best)) best = k;
    cursor.last = best;
    cursor.offered = 1;
    return this.#indexes[best];
  }

  /** first(): the order is the key's own. */
  home(key: RouteKey, cursor: SelectionCursor): number {
    return this.first(key, cursor);
  }

  /** The best broker after the last one offered, by the order first() laid out in the cursor. */
  next(_key: RouteKey, cursor: SelectionCursor): number {
    const n = this.#indexes.length;
    if (cursor.offered >= n) return -1;
    const score = cursor.scores;
    const over = cursor.aux;
    const last = cursor.last;
    let best = -1;
    for (let k = 0; k < n; k++) {
      if (!this.#precedes(score, over, last, k)) continue; // offered already (or `last` itself)
      if (best < 0 || this.#precedes(score, over, k, best)) best = k;
    }
    cursor.offered++;
    cursor.last = best;
    return this.#indexes[best];
  }

  candidates(key: RouteKey): number[] {
    return walkAll(this, key);
  }

  /** Does position a come before position b? Under its bound first, then higher score, then name. A strict total order. */
  #precedes(score: Float64Array, over: Float64Array, a: number, b: number): boolean {
    if (over[a] !== over[b]) return over[a] < over[b];
    if (score[a] !== score[b]) return score[a] > score[b];
    return this.#nameRank[a] < this.#nameRank[b];
  }

  /**
   * Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam): a broker already at
   * ceil(loadBound x its weighted share of (live + 1)) moves behind every broker that is not, keeping
   * the hash order within each group. When no broker is over its bound the order is untouched, so
   * placement stays deterministic while loads are balanced. Since loadBound >= 1 the bounds sum to
   * more than the live total: some broker is always under its bound.
   * On entry cursor.aux holds each broker's live count; on return 1 = over its bound, else 0.
   */
  #markOverBound(cursor: SelectionCursor, n: number, total: number): void {
    const over = cursor.aux;
    if (total < kBoundMinLivePerBroker * n) {
      for (let k = 0; k < n; k++) over[k] = 0;
      return;
    }
    const perWeight = (this.#loadBound * (total + 1)) / this.#totalWeight;
    for (let k = 0; k < n; k++) {
      over[k] = over[k] >= Math.ceil(perWeight * this.#weights[k]) ? 1 : 0;
    }
  }
}
