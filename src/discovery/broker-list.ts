// A broker list from a discovery source (a file, an HTTP answer): { brokers: [...] } or a bare list, each
// entry as in the config's brokers: (name, address, weight, proxy_protocol, drain), names and addresses
// unique. Checked whole: one bad entry refuses the answer, and the source keeps its last good set.
import { z } from 'zod';
import { MAX_BROKERS } from '../brokers/layout.ts';
import type { BrokerConfig } from '../config/resolved.ts';
import { brokerSchema } from '../config/schema.ts';
import { brokerConfigOf, formatPath } from '../config/load.ts';

const entries = z.array(brokerSchema).max(MAX_BROKERS);
const listSchema = z.union([z.strictObject({ brokers: entries }), entries]);

export type ListResult = { ok: true; brokers: BrokerConfig[] } | { ok: false; error: string };

export function parseBrokerList(value: unknown): ListResult {
  const parsed = listSchema.safeParse(value);
  if (!parsed.success) {
    // The union reports each branch; the object form's issues are the ones worth reading.
    const issues = parsed.error.issues.flatMap((i) => (i.code === 'invalid_union' ? i.errors.flat() : [i])).slice(0, 5);
    return { ok: false, error: issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ') };
  }
  const list = Array.isArray(parsed.data) ? parsed.data : parsed.data.brokers;
  const names = new Set<string>();
  const addresses = new Set<string>();
  for (const b of list) {
    if (names.has(b.name)) return { ok: false, error: `duplicate broker name "${b.name}"` };
    if (addresses.has(b.address.address)) return { ok: false, error: `duplicate broker address ${b.address.address}` };
    names.add(b.name);
    addresses.add(b.address.address);
  }
  return { ok: true, brokers: list.map(brokerConfigOf) };
}
