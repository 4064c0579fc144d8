import type { NodeRecord } from './node-record.js';

/** A gateway's heartbeat record as shown to people (`signal nodes`, emit-api `GET /v1/nodes`). */
export interface NodeView {
  node: string;
  instance: string;
  beatAt: number;
  /** Since when the gateway process runs (ms since epoch), and its open connections at the last beat; absent from older gateways' records. */
  startedAt?: number;
  connections?: number;
  ageMs: number;
  /** Beat within PRESENCE_NODE_TIMEOUT_MS and not claimed by a sweeper. */
  alive: boolean;
  sweptBy?: string;
}

export function nodeViewOf(record: NodeRecord, now: number, timeoutMs: number): NodeView {
  const ageMs = Math.max(0, now - record.beatAt);
  const v: NodeView = { node: record.node, instance: record.instance, beatAt: record.beatAt, ageMs, alive: ageMs <= timeoutMs && record.sweptBy === undefined };
  if (record.startedAt !== undefined) v.startedAt = record.startedAt;
  if (record.connections !== undefined) v.connections = record.connections;
  if (record.sweptBy !== undefined) v.sweptBy = record.sweptBy;
  return v;
}
