// Reads and discards an admin request's body up to a cap: the API is GET-only, so a body is never used,
// but reading it (boundedly) keeps a keep-alive connection in step.
import type { IncomingMessage } from 'node:http';

export type BodyOutcome = 'read' | 'too-large' | 'aborted';

/**
 * Resolves 'read' once the whole body (none, Content-Length or chunked) is in and at most `maxBytes`;
 * 'too-large' as soon as the declared length or the bytes seen pass `maxBytes` (reading stops there:
 * the caller answers 413 and closes); 'aborted' if the client goes away first.
 */
export function discardBody(req: IncomingMessage, maxBytes: number): Promise<BodyOutcome> {
  // Node's parser has already refused a malformed or duplicated Content-Length.
  if (Number(req.headers['content-length'] ?? 0) > maxBytes) return Promise.resolve('too-large');
  return new Promise((resolve) => {
    let seen = 0;
    let settled = false;
    const settle = (outcome: BodyOutcome) => {
      if (settled) return;
      settled = true;
      if (outcome === 'too-large') req.pause();
      resolve(outcome);
    };
    req.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > maxBytes) settle('too-large');
    });
    req.on('end', () => settle('read'));
    req.on('error', () => settle('aborted'));
    req.on('close', () => settle(req.complete ? 'read' : 'aborted'));
  });
}
