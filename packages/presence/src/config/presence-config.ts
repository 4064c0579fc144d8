import { z } from 'zod';
import { intVar } from '@signal/core';

/**
 * Environment variables of the presence store, shared by every service that opens it
 * (gateway and emit-api must agree on the bucket).
 */
export const presenceStoreVars = {
  /** Participants bucket; node heartbeats live in `<bucket>_nodes`. */
  PRESENCE_BUCKET: z
    .string()
    .regex(/^[a-zA-Z0-9_-]{1,200}$/, { error: 'must be 1-200 of a-z, A-Z, 0-9, _ or -' })
    .default('signal_presence'),
  /**
   * How many participants buckets presence is spread over, by channel (docs/presence.md#sharding):
   * `<bucket>`, `<bucket>_1` … Every service must use the same count; 1 keeps one bucket.
   */
  PRESENCE_SHARDS: intVar(1, 64, 1),
  /** JetStream replicas of both buckets when they are created (3 on a 3-node NATS cluster). */
  PRESENCE_REPLICAS: intVar(1, 5, 1),
  /** Presence is rebuilt by clients rejoining, so memory is the default; `file` survives a NATS restart. */
  PRESENCE_STORAGE: z.enum(['memory', 'file'], { error: 'must be memory or file' }).default('memory'),
  /** Most bytes the participants bucket holds when it is created; past it joins get limit_exceeded. */
  PRESENCE_MAX_BYTES: intVar(1024 * 1024, 1024 ** 4, 256 * 1024 * 1024),
  /** Largest participant state, in bytes of JSON; the bucket's largest value is derived from it. */
  PRESENCE_MAX_STATE_BYTES: intVar(2, 64 * 1024, 1024),
  /**
   * How long a presence operation retries a transient JetStream error (a leader election after
   * a NATS node died: 5-25 s measured on nats-server 2.9) before the client gets `unavailable`;
   * 0 turns retries off.
   */
  PRESENCE_RETRY_DEADLINE_MS: intVar(0, 120_000, 30_000),
};

/** Timing and limits a gateway node applies. */
export const presenceNodeVars = {
  /** How often a gateway's beat worker thread sends its plain-NATS beat (the liveness signal). */
  PRESENCE_BEAT_MS: intVar(50, 10_000, 250),
  /** How often a gateway rewrites its record in `<bucket>_nodes` (compare-and-set; how it learns it was swept). */
  PRESENCE_HEARTBEAT_MS: intVar(100, 60_000, 500),
  /** A node neither heard (beats) nor seen (record) for this long is declared dead and swept. */
  PRESENCE_NODE_TIMEOUT_MS: intVar(300, 600_000, 1000),
  /** The beat worker stops beating once the gateway's main thread has not run for this long, so a stuck process is swept. */
  PRESENCE_MAX_STALL_MS: intVar(1000, 600_000, 30_000),
  /** How often one live node looks for orphaned entries and purges old delete markers. */
  PRESENCE_JANITOR_MS: intVar(1000, 3_600_000, 60_000),
  /** Most participants in one presence channel; joining past it fails with limit_exceeded. */
  PRESENCE_MAX_PARTICIPANTS: intVar(1, 1_000_000, 1000),
  /**
   * How long a gateway keeps following a channel (its feed, one consumer) after its last local
   * participant left, so a rejoin soon after reads nothing from the store; 0 stops at once.
   */
  PRESENCE_FEED_LINGER_MS: intVar(0, 600_000, 5000),
};

export interface PresenceStoreSettings {
  bucket: string;
  /** Participants buckets (PRESENCE_SHARDS); 1 when absent. */
  shards?: number;
  replicas: number;
  storage: 'memory' | 'file';
  /** The participants bucket's `max_bytes`. */
  maxBytes: number;
  /** The participants bucket's largest value: the largest state plus the rest of an entry. */
  maxValueBytes: number;
  /** How long a store operation retries transient JetStream errors. */
  retryDeadlineMs: number;
}

/**
 * Bytes of a participant entry besides its state, at most: channel, identity and device are
 * up to 256 characters each (768 bytes of UTF-8), the address holds identity and device again,
 * plus node, instance, route, timestamps and JSON keys.
 */
export const ENTRY_OVERHEAD_BYTES = 4096;

export interface PresenceTiming {
  beatMs: number;
  heartbeatMs: number;
  maxStallMs: number;
  nodeTimeoutMs: number;
  janitorMs: number;
  feedLingerMs: number;
}

export interface PresenceLimits {
  maxStateBytes: number;
  maxParticipants: number;
}

type StoreVars = { [K in keyof typeof presenceStoreVars]: z.infer<(typeof presenceStoreVars)[K]> };
type NodeVars = { [K in keyof typeof presenceNodeVars]: z.infer<(typeof presenceNodeVars)[K]> };

export function storeSettingsFrom(env: StoreVars): PresenceStoreSettings {
  return {
    bucket: env.PRESENCE_BUCKET,
    shards: env.PRESENCE_SHARDS,
    replicas: env.PRESENCE_REPLICAS,
    storage: env.PRESENCE_STORAGE,
    maxBytes: env.PRESENCE_MAX_BYTES,
    maxValueBytes: env.PRESENCE_MAX_STATE_BYTES + ENTRY_OVERHEAD_BYTES,
    retryDeadlineMs: env.PRESENCE_RETRY_DEADLINE_MS,
  };
}

export function timingFrom(env: NodeVars): PresenceTiming {
  return {
    beatMs: env.PRESENCE_BEAT_MS,
    heartbeatMs: env.PRESENCE_HEARTBEAT_MS,
    maxStallMs: env.PRESENCE_MAX_STALL_MS,
    nodeTimeoutMs: env.PRESENCE_NODE_TIMEOUT_MS,
    janitorMs: env.PRESENCE_JANITOR_MS,
    feedLingerMs: env.PRESENCE_FEED_LINGER_MS,
  };
}

export function limitsFrom(env: NodeVars & Pick<StoreVars, 'PRESENCE_MAX_STATE_BYTES'>): PresenceLimits {
  return { maxStateBytes: env.PRESENCE_MAX_STATE_BYTES, maxParticipants: env.PRESENCE_MAX_PARTICIPANTS };
}

/**
 * A node must miss several beats, and at least one record rewrite, before it is declared dead,
 * or a late message would get a live node swept; and a main thread stalled past the node
 * timeout is what the beat worker exists to cover.
 */
export function checkTiming(env: NodeVars, ctx: z.core.$RefinementCtx): void {
  const rules: [keyof NodeVars, number, string][] = [
    ['PRESENCE_NODE_TIMEOUT_MS', env.PRESENCE_BEAT_MS * 3, `at least 3 × PRESENCE_BEAT_MS (${env.PRESENCE_BEAT_MS * 3})`],
    ['PRESENCE_NODE_TIMEOUT_MS', env.PRESENCE_HEARTBEAT_MS * 2, `at least 2 × PRESENCE_HEARTBEAT_MS (${env.PRESENCE_HEARTBEAT_MS * 2})`],
    ['PRESENCE_MAX_STALL_MS', env.PRESENCE_NODE_TIMEOUT_MS, `at least PRESENCE_NODE_TIMEOUT_MS (${env.PRESENCE_NODE_TIMEOUT_MS})`],
  ];
  for (const [variable, least, message] of rules) {
    if (env[variable] < least) ctx.addIssue({ code: 'custom', path: [variable], message: `must be ${message}` });
  }
}
