import { connect } from '@nats-io/transport-node';
import { ENTRY_OVERHEAD_BYTES, JetStreamPresenceStore, nodeRecordSchema, openPresenceBuckets, type NodeRecord } from '@signal/presence';
import { Bit6Client } from './bit6-client.js';
import { RpcClient } from './rpc-client.js';
import { connectNative, emit, keysOf, mintToken, type Stack } from './stack.js';

export type App = 'alpha' | 'beta';

/** A Bit6-style token: `sub` identity/device and `aud` pointing at one gateway (optionally its /v1 form). */
export async function bit6Token(stack: Stack, identity: string, device: string, gateway: number, options: { v1?: boolean; ttl?: number } = {}) {
  const audience = `http://127.0.0.1:${String(stack.gateways[gateway]!.ready.port)}${options.v1 ? '/v1' : ''}`;
  return mintToken(stack, 'alpha', identity, device, 'test', { audience, ...(options.ttl === undefined ? {} : { ttl: options.ttl }) });
}

export async function bit6(stack: Stack, identity: string, device: string, gateway: number): Promise<Bit6Client> {
  return Bit6Client.connect(await bit6Token(stack, identity, device, gateway));
}

export function native(stack: Stack, identity: string, device: string, gateway: number, app: App = 'alpha'): Promise<RpcClient> {
  return connectNative(stack, { identity, device, gateway, app });
}

export interface ParticipantBody {
  address: string;
  identity: string;
  device: string;
  state?: unknown;
  joinedAt: number;
}

/** GET /v1/channels/:channel/participants with the app's secret key (or another Authorization). */
export async function getParticipants(stack: Stack, channel: string, options: { app?: App; authorization?: string | null } = {}) {
  const headers: Record<string, string> = {};
  const authorization = options.authorization === undefined ? `Bearer ${keysOf(stack, options.app ?? 'alpha').secretKey}` : options.authorization;
  if (authorization !== null) headers.authorization = authorization;
  const res = await fetch(`${stack.emitUrl}/v1/channels/${encodeURIComponent(channel)}/participants`, { headers });
  return { status: res.status, body: (await res.json()) as { channel?: string; participants?: ParticipantBody[]; code?: string; message?: string } };
}

export async function addressesIn(stack: Stack, channel: string, app: App = 'alpha'): Promise<string[]> {
  const { status, body } = await getParticipants(stack, channel, { app });
  if (status !== 200) throw new Error(`participants failed: ${status} ${JSON.stringify(body)}`);
  return body.participants!.map((p) => p.address).sort();
}

export { emit };

const DEFAULT_BUCKETS = { bucket: 'signal_presence', replicas: 1, storage: 'memory', maxBytes: 256 * 1024 * 1024, maxValueBytes: 1024 + ENTRY_OVERHEAD_BYTES, retryDeadlineMs: 0 } as const;

/** Reads the presence bucket directly: the entries a gateway node holds. */
export async function bucketEntriesOfNode(stack: Stack, node: string) {
  const nc = await connect({ servers: stack.nats.url });
  try {
    const buckets = await openPresenceBuckets(nc, DEFAULT_BUCKETS);
    return await new JetStreamPresenceStore(nc, buckets.shards[0]!.kv, 'signal_presence').entriesOfNode(node);
  } finally {
    await nc.close();
  }
}

/** A gateway node's heartbeat record as stored (`signal_presence_nodes`), with its revision; undefined when absent. */
export async function nodeRecord(stack: Stack, node: string): Promise<{ revision: number; record: NodeRecord } | undefined> {
  const nc = await connect({ servers: stack.nats.url });
  try {
    const entry = await (await openPresenceBuckets(nc, DEFAULT_BUCKETS)).nodes.get(node);
    if (!entry || entry.operation !== 'PUT') return undefined;
    return { revision: entry.revision, record: nodeRecordSchema.parse(entry.json()) };
  } finally {
    await nc.close();
  }
}
