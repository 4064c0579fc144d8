import type { KV } from '@nats-io/kv';
import { SignalError, type Scope } from '@signal/core';
import type { ObservedNode } from '../nodes/liveness-watch.js';
import { decodeOccupancy, type OccupancyCounts, type OccupancyValue } from './occupancy-entry.js';
import { occupancyKey } from './occupancy-keys.js';

/** What one node's key of a channel holds: its latest value, or nothing (deleted or never written). */
export interface NodeOccupancy {
  readonly revision: number;
  readonly value: OccupancyValue | undefined;
}

/**
 * The gateway processes whose counts are believed: every node with a heartbeat record that no
 * other node has claimed for a sweep, by node id, with its live process instance. A dead node
 * stops counting as soon as it is claimed, before its keys are swept.
 */
export function liveInstances(observed: readonly ObservedNode[]): Map<string, string> {
  const live = new Map<string, string>();
  for (const { record } of observed) if (record.sweptBy === undefined) live.set(record.node, record.instance);
  return live;
}

/** Reads the channel's key of each given node (one direct get each, in parallel). */
export async function readNodeOccupancy(kv: KV, scope: Scope, channel: string, nodes: Iterable<string>): Promise<Map<string, NodeOccupancy>> {
  const read = async (node: string): Promise<[string, NodeOccupancy]> => {
    const entry = await kv.get(occupancyKey(scope, channel, node));
    if (!entry) return [node, { revision: 0, value: undefined }];
    return [node, { revision: entry.revision, value: entry.operation === 'PUT' ? decodeOccupancy(entry.value) : undefined }];
  };
  try {
    return new Map(await Promise.all([...nodes].map(read)));
  } catch (error) {
    throw new SignalError('unavailable', `occupancy store is unreachable: ${(error as Error).message}`, { cause: error });
  }
}

/** The sum of the counts written by live processes. */
export function sumLive(entries: Iterable<[string, NodeOccupancy]>, live: ReadonlyMap<string, string>): OccupancyCounts {
  let connections = 0;
  let participants = 0;
  for (const [node, { value }] of entries) {
    if (!value || live.get(node) !== value.instance) continue;
    connections += value.connections;
    participants += value.participants;
  }
  return { connections, participants };
}

/** A channel's occupancy, cluster-wide: one direct get per live gateway. */
export async function readOccupancy(kv: KV, scope: Scope, channel: string, live: ReadonlyMap<string, string>): Promise<OccupancyCounts> {
  return sumLive(await readNodeOccupancy(kv, scope, channel, live.keys()), live);
}
