// Free loopback ports for test servers: the same picker the benchmark harness uses.
export { freePort } from '../../bench/lib/ports.ts';
