// GET /api/clients/{id}: where a client id is placed and why, read from the shared tables (nothing is
// claimed or changed): its pin in the sticky table (broker, last activity, expiry, whether it still
// holds), where its next connect would go first (the pin, else its consistent-hash place among the
// brokers taking clients), and its connections now.
import { ConsistentHashSelector } from '../balance/consistent-hash.ts';
import type { BrokerTable } from '../brokers/broker-table.ts';
import type { BrokerConfig, ResolvedConfig } from '../config/resolved.ts';
import { hashKey } from '../hash.ts';
import { takesNewClients } from '../brokers/takes-clients.ts';
import { kStickyEpochMs, stickyNowSec } from '../sticky/clock.ts';
import type { StickyTable } from '../sticky/table.ts';
import type { ClientRecord } from '../worker-messages.ts';

export type ClientViewDeps = {
  brokers: () => readonly BrokerConfig[];
  balance: () => ResolvedConfig['balance'];
  brokerTable: BrokerTable;
  stickyTable: StickyTable;
  stickyTtlSec: number;
  connections: (clientId: string) => Promise<ClientRecord[]>;
};

export type ClientView = {
  clientId: string;
  /** The route key a CONNECT with this client id has (balance.key puts client-id first by default). */
  key: string;
  pin: { broker: string; lastSeen: string; expires: string; valid: boolean } | null;
  /** Where its next connect goes first, and why: its pin, its hash place, or the strategy's turn. */
  next: { broker: string | null; why: 'pin' | 'hash' | 'strategy' };
  connections: ClientRecord[];
};

const isoOf = (stickySec: number) => new Date(kStickyEpochMs + stickySec * 1000).toISOString();

export async function clientView(clientId: string, d: ClientViewDeps): Promise<ClientView> {
  const brokers = d.brokers();
  const balance = d.balance();
  const key = `c:${clientId}`;
  const hash = hashKey(key);
  const nameOf = (i: number) => brokers[i]?.name || `slot ${i}`;
  const takesClients = (i: number) => takesNewClients(brokers[i], i, d.brokerTable);

  const found = d.stickyTable.pinOf(hash, stickyNowSec(), d.stickyTtlSec);
  // As the sticky strategy judges a pin: its broker is in the set with weight > 0, under the same generation.
  const valid = found !== undefined && brokers[found.broker] !== undefined && brokers[found.broker].weight > 0 && d.brokerTable.generation(found.broker) === found.generation;
  const pin = found ? { broker: nameOf(found.broker), lastSeen: isoOf(found.lastSeenSec), expires: isoOf(found.lastSeenSec + d.stickyTtlSec), valid } : null;

  let next: ClientView['next'] = { broker: null, why: 'strategy' };
  if (balance.strategy === 'sticky' && found && valid && takesClients(found.broker)) {
    next = { broker: nameOf(found.broker), why: 'pin' };
  } else if (balance.strategy === 'sticky' || balance.strategy === 'consistent-hash') {
    const selector = new ConsistentHashSelector({ brokers: brokers.map((b) => ({ name: b.name, weight: b.weight })), brokerTable: d.brokerTable, loadBound: balance.loadBound });
    const first = selector.candidates({ text: key, hash }).find(takesClients);
    next = { broker: first === undefined ? null : nameOf(first), why: 'hash' };
  }
  return { clientId, key, pin, next, connections: await d.connections(clientId) };
}
