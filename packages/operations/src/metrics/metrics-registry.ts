import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * A Prometheus registry with the Node.js runtime metrics (CPU, memory, event-loop lag, GC,
 * open file descriptors) that dashboards for Node services expect.
 */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * A counter whose value lives in a plain number that hot paths increment (a field increment
 * costs nothing; a prom-client call per message would). Read at scrape time.
 */
export function totalCounter(registry: Registry, name: string, help: string, read: () => number): Counter {
  let reported = 0;
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const now = read();
      if (now > reported) this.inc(now - reported);
      reported = now;
    },
  });
}

/** Like totalCounter, for a family of totals keyed by one label, e.g. closes per close code. */
export function labelledTotalCounter(
  registry: Registry,
  name: string,
  help: string,
  label: string,
  read: () => ReadonlyMap<string, number>,
): Counter<string> {
  const reported = new Map<string, number>();
  return new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      for (const [value, now] of read()) {
        const before = reported.get(value) ?? 0;
        if (now > before) this.inc({ [label]: value }, now - before);
        reported.set(value, now);
      }
    },
  });
}
