// Which CPUs the balancer and the load side (load generator + backends) run on, per pass (pure, tested).

export type CpuPlan = { balancer: string | undefined; load: string | undefined; label: string };

/** CPU list "a" or "a-b" for taskset -c. */
const span = (first: number, last: number) => (first === last ? String(first) : `${first}-${last}`);

/**
 * The balancer's W threads get CPUs 0..W-1 to themselves and the load side the rest, when there is a
 * rest. On two cores that pins one worker against the load side on the other core; two workers
 * cannot be pinned apart from the load, so that pass runs unpinned (the kernel places everything).
 */
export function cpuPlan(workers: number, cores: number, pin: boolean): CpuPlan {
  if (!pin) return { balancer: undefined, load: undefined, label: 'none (--no-pin)' };
  if (workers >= cores) return { balancer: undefined, load: undefined, label: `none (${workers} balancer threads on ${cores} cores)` };
  const balancer = span(0, workers - 1);
  const load = span(workers, cores - 1);
  return { balancer, load, label: `balancer on CPU ${balancer}; load generator and backends on CPU ${load} (taskset)` };
}
