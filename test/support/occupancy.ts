import { connect } from '@nats-io/transport-node';
import { openOccupancyBucket } from '@signal/presence';
import type { Frame, RpcClient } from './rpc-client.js';
import { keysOf, type Stack } from './stack.js';

export interface OccupancyBody {
  channel?: string;
  connections?: number;
  participants?: number;
  code?: string;
  message?: string;
}

/** GET /v1/channels/:channel/occupancy with the app's secret key (or another Authorization; null: none). */
export async function getOccupancy(stack: Stack, channel: string, authorization?: string | null) {
  const headers: Record<string, string> = {};
  const value = authorization === undefined ? `Bearer ${keysOf(stack, 'alpha').secretKey}` : authorization;
  if (value !== null) headers.authorization = value;
  const res = await fetch(`${stack.emitUrl}/v1/channels/${encodeURIComponent(channel)}/occupancy`, { headers });
  return { status: res.status, body: (await res.json()) as OccupancyBody };
}

/** The `signal.occupancy` notifications a client got for a channel so far, oldest first. */
export function occupancyFrames(client: RpcClient, channel: string): Frame[] {
  return client.frames.filter((f) => f.method === 'signal.occupancy' && f.params?.id === channel);
}

/**
 * Records every `signal.occupancy` a client gets for a channel from now on, with the receiver's
 * monotonic time of arrival.
 */
export function recordOccupancy(client: RpcClient, channel: string): Array<{ at: number; params: Record<string, unknown> }> {
  const seen: Array<{ at: number; params: Record<string, unknown> }> = [];
  client.ws.on('message', (data) => {
    const text = String(data);
    if (!text.startsWith('{')) return;
    const frame = JSON.parse(text) as Frame;
    if (frame.method === 'signal.occupancy' && frame.params?.id === channel) seen.push({ at: performance.now(), params: frame.params });
  });
  return seen;
}

/** The keys of the occupancy bucket, read directly (what the webhooks and operators see). */
export async function occupancyKeys(stack: Stack): Promise<string[]> {
  const nc = await connect({ servers: stack.nats.url });
  try {
    const { kv } = await openOccupancyBucket(nc, { bucket: 'signal_occupancy', replicas: 1, storage: 'memory' });
    const keys: string[] = [];
    for await (const key of await kv.keys()) keys.push(key);
    return keys.sort();
  } finally {
    await nc.close();
  }
}
