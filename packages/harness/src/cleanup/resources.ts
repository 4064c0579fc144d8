import { HarnessError } from '../errors/harness-error.js';
import { removeAllTempDirs } from './temp-dirs.js';

export interface Stoppable {
  stop(): Promise<unknown>;
}

/** Services stop before NATS so they can shut down cleanly instead of logging reconnect storms. */
const ORDER = ['service', 'nats'] as const;
export type ResourceKind = (typeof ORDER)[number];

const resources: Record<ResourceKind, Set<Stoppable>> = { service: new Set(), nats: new Set() };

export function trackResource(kind: ResourceKind, resource: Stoppable): void {
  resources[kind].add(resource);
}

export function untrackResource(kind: ResourceKind, resource: Stoppable): void {
  resources[kind].delete(resource);
}

/** Stops every service, then every NATS server, then removes every harness temp dir. */
export async function stopAll(): Promise<void> {
  const failures: unknown[] = [];
  for (const kind of ORDER) {
    const batch = [...resources[kind]];
    resources[kind].clear();
    const results = await Promise.allSettled(batch.map((r) => r.stop()));
    for (const result of results) if (result.status === 'rejected') failures.push(result.reason);
  }
  await removeAllTempDirs();
  if (failures.length > 0) {
    const first = failures[0];
    throw new HarnessError(
      'cleanup_failed',
      `stopAll: ${failures.length} resource(s) failed to stop (first: ${first instanceof Error ? first.message : String(first)}); check for processes left running with \`ps -ef | grep -e nats-server -e node\``,
      { cause: new AggregateError(failures) },
    );
  }
}
