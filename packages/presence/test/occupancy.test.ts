import { describe, expect, it } from 'vitest';
import {
  decodeOccupancy,
  encodeOccupancy,
  liveInstances,
  nodeOfOccupancyKey,
  occupancyChannelFilter,
  occupancyKey,
  sumLive,
  type NodeOccupancy,
  type ObservedNode,
} from '../src/mod.js';

const scope = { app: 'acme', env: 'test' as const };
const value = (node: string, instance: string, connections: number, participants = 0) => ({
  node,
  instance,
  connections,
  participants,
  updatedAt: 1,
});
const observed = (node: string, instance: string, sweptBy?: string): ObservedNode => ({
  record: { node, instance, beatAt: 1, ...(sweptBy === undefined ? {} : { sweptBy }) },
  revision: 1,
  changedAt: 0,
});

describe('occupancy keys and values', () => {
  it('one key per channel per node, any channel name as one token', () => {
    const key = occupancyKey(scope, 'live/event.1 ✓', 'n1');
    expect(key.split('.')).toHaveLength(4);
    expect(key.startsWith(occupancyChannelFilter(scope, 'live/event.1 ✓').slice(0, -1))).toBe(true);
    expect(nodeOfOccupancyKey(key)).toBe('n1');
    expect(nodeOfOccupancyKey('acme.test.x.n1.extra')).toBeUndefined();
  });

  it('reads only well-formed values of bounded size', () => {
    expect(decodeOccupancy(encodeOccupancy(value('n1', 'i1', 3, 1)))).toEqual(value('n1', 'i1', 3, 1));
    const bad = ['not json', '{"node":"n1"}', JSON.stringify({ ...value('n1', 'i1', -1) }), JSON.stringify({ ...value('n1', 'i1', 1), node: 'x'.repeat(600) })];
    for (const text of bad) expect(decodeOccupancy(new TextEncoder().encode(text)), text.slice(0, 40)).toBeUndefined();
  });
});

describe('summing live gateways', () => {
  it('counts a key only while its writer is the live, unclaimed process of its node', () => {
    const live = liveInstances([observed('n1', 'i1'), observed('n2', 'i2'), observed('n3', 'i3', 'n1')]);
    expect([...live]).toEqual([
      ['n1', 'i1'],
      ['n2', 'i2'],
    ]);
    const entries: Array<[string, NodeOccupancy]> = [
      ['n1', { revision: 4, value: value('n1', 'i1', 10, 2) }],
      // An earlier process of n2 (restarted with the same NODE_ID): not counted.
      ['n2', { revision: 5, value: value('n2', 'i0', 7, 7) }],
      // Claimed for a sweep: not counted, although its keys are still there.
      ['n3', { revision: 6, value: value('n3', 'i3', 100, 1) }],
      // Gone without a heartbeat record.
      ['n4', { revision: 7, value: value('n4', 'i4', 1000) }],
      ['n5', { revision: 8, value: undefined }],
    ];
    expect(sumLive(entries, live)).toEqual({ connections: 10, participants: 2 });
  });
});
