// Limits and timeouts of the admin HTTP server, in one place so the server, the README and the tests agree.

export const adminHttpLimits = {
  /** Request line and headers must be complete this long after the request starts (Node's default: 60 s). */
  headersTimeoutMs: 5_000,
  /** The whole request, body included (Node's default: 5 min). */
  requestTimeoutMs: 10_000,
  /** How often Node checks the two timeouts above, so a cut comes up to this much late (Node's default: 30 s). */
  connectionsCheckingIntervalMs: 1_000,
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: 5_000,
  /** A connection with no traffic either way, e.g. a client that stops reading its response, is closed. */
  socketIdleTimeoutMs: 30_000,
  /** Request line plus headers; more gets 431 (Node's default: 16 KiB). */
  maxHeaderBytes: 8 * 1024,
  /** The API is GET-only: a body up to this is read and ignored; a larger one gets 413 and a close. */
  maxBodyBytes: 4 * 1024,
  /** Open admin connections; more are closed at accept, so the admin port cannot use up the
   *  file descriptors the data plane shares with it (one process, 20,000 at most here). */
  maxConnections: 64,
} as const;
