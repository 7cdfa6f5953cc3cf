// The admin endpoint's view of one forwarded client, waited for: a client is listed once Sluice has
// placed it, a moment after its CONNECT went out.
import type { ClientRecord } from '../../src/worker-messages.ts';
import type { SluiceProcess } from './sluice.ts';

/** Polls GET /api/clients until `clientId` is listed (at most 4 s); returns its record. */
export async function listedClient(sluice: SluiceProcess, clientId: string): Promise<ClientRecord> {
  for (let i = 0; i < 200; i++) {
    const { body } = await sluice.admin<{ clients: ClientRecord[] }>(`/api/clients?client_id=${encodeURIComponent(clientId)}`);
    if (body.clients.length === 1) return body.clients[0];
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${clientId} never listed`);
}
