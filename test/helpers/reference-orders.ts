// The sort-based candidate orders of every non-sticky strategy as they were before the lazy walk
// (commit 46135ec), frozen here as the oracle the lazy first()/next() must match exactly.
import { eligibleBrokers } from '../../src/balance/eligible.ts';
import type { BuildContext, RouteKey, StrategyName } from '../../src/balance/strategy.ts';
import { hashKey, mix32 } from '../../src/hash.ts';

export type ReferenceSelector = { candidates(key: RouteKey): number[] };

const kTwoPow32 = 4294967296;
const kBoundMinLivePerBroker = 4;

function random(ctx: BuildContext): ReferenceSelector {
  const { indexes, weights } = eligibleBrokers(ctx);
  const rnd = ctx.random ?? Math.random;
  return {
    candidates() {
      const n = indexes.length;
      const arrival = new Array<number>(n);
      const order = new Array<number>(n);
      for (let k = 0; k < n; k++) {
        arrival[k] = -Math.log(1 - rnd()) / weights[k];
        order[k] = k;
      }
      order.sort((a, b) => arrival[a] - arrival[b]);
      return order.map((k) => indexes[k]);
    },
  };
}

function roundRobin(ctx: BuildContext): ReferenceSelector {
  const { indexes } = eligibleBrokers(ctx);
  return {
    candidates() {
      const n = indexes.length;
      if (n === 0) return [];
      const start = ctx.brokerTable.nextRoundRobin() % n;
      return indexes.map((_, k) => indexes[(start + k) % n]);
    },
  };
}

function weightedRoundRobin(ctx: BuildContext): ReferenceSelector {
  const { indexes, weights, totalWeight } = eligibleBrokers(ctx);
  const current = weights.map(() => 0);
  return {
    candidates() {
      const n = indexes.length;
      if (n === 0) return [];
      let best = 0;
      for (let k = 0; k < n; k++) {
        current[k] += weights[k];
        if (current[k] > current[best]) best = k;
      }
      current[best] -= totalWeight;
      const order: number[] = [];
      for (let k = 0; k < n; k++) if (k !== best) order.push(k);
      order.sort((a, b) => current[b] - current[a] || a - b);
      order.unshift(best);
      return order.map((k) => indexes[k]);
    },
  };
}

function leastConnections(ctx: BuildContext): ReferenceSelector {
  const { indexes, weights } = eligibleBrokers(ctx);
  const rnd = ctx.random ?? Math.random;
  return {
    candidates() {
      const n = indexes.length;
      if (n === 0) return [];
      const load = indexes.map((i, k) => (ctx.brokerTable.liveConnections(i) + 1) / weights[k]);
      const order = indexes.map((_, k) => k);
      const start = Math.floor(rnd() * n);
      order.sort((a, b) => load[a] - load[b] || ((a - start + n) % n) - ((b - start + n) % n));
      return order.map((k) => indexes[k]);
    },
  };
}

function consistentHash(ctx: BuildContext): ReferenceSelector {
  const { indexes, weights, totalWeight } = eligibleBrokers(ctx);
  const names = indexes.map((i) => ctx.brokers[i].name);
  const hashes = names.map((name) => hashKey(name));
  const sorted = names.map((_, k) => k).sort((a, b) => (names[a] < names[b] ? -1 : names[a] > names[b] ? 1 : 0));
  const nameRank = new Array<number>(names.length);
  sorted.forEach((k, rank) => (nameRank[k] = rank));
  const equalWeights = weights.every((w) => w === weights[0]);
  const loadBound = ctx.loadBound ?? 0;
  return {
    candidates(key) {
      const n = indexes.length;
      const { hi, lo } = key.hash;
      const score = new Array<number>(n);
      const order = new Array<number>(n);
      for (let k = 0; k < n; k++) {
        const u32 = mix32(mix32(lo, hashes[k].lo), hi ^ hashes[k].hi);
        score[k] = equalWeights ? u32 : -weights[k] / Math.log((u32 + 0.5) / kTwoPow32);
        order[k] = k;
      }
      order.sort((a, b) => score[b] - score[a] || nameRank[a] - nameRank[b]);
      if (loadBound !== 0 && n > 1) {
        const live = indexes.map((i) => ctx.brokerTable.liveConnections(i));
        const total = live.reduce((a, b) => a + b, 0);
        if (total >= kBoundMinLivePerBroker * n) {
          const perWeight = (loadBound * (total + 1)) / totalWeight;
          const under = order.filter((k) => live[k] < Math.ceil(perWeight * weights[k]));
          const over = order.filter((k) => live[k] >= Math.ceil(perWeight * weights[k]));
          order.splice(0, n, ...under, ...over);
        }
      }
      return order.map((k) => indexes[k]);
    },
  };
}

/** The frozen order of `name` over ctx's broker set (state of its own: give it its own random source and broker table). */
export function referenceSelector(name: Exclude<StrategyName, 'sticky'>, ctx: BuildContext): ReferenceSelector {
  switch (name) {
    case 'random':
      return random(ctx);
    case 'round-robin':
      return roundRobin(ctx);
    case 'weighted-round-robin':
      return weightedRoundRobin(ctx);
    case 'least-connections':
      return leastConnections(ctx);
    case 'consistent-hash':
      return consistentHash(ctx);
  }
}
