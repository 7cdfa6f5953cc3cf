// Whether a broker takes new clients now: the one test readiness, the metrics, the rebalancer and the
// admin's placement view share, so they never disagree.
import type { BrokerConfig } from '../config/resolved.ts';
import type { BrokerTable } from './broker-table.ts';

/** Broker slot i (`b`, its config) is in the set, not drained (config, admin API or table), weighted, and healthy. */
export function takesNewClients(b: BrokerConfig | undefined, i: number, table: BrokerTable): boolean {
  return b !== undefined && b.name !== '' && !b.removed && !b.drain && b.weight > 0 && table.isHealthy(i) && !table.isDraining(i);
}
