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
  /** JetStream replicas of both buckets when they are created (3 on a 3-node NATS cluster). */
  PRESENCE_REPLICAS: intVar(1, 5, 1),
  /** Presence is rebuilt by clients rejoining, so memory is the default; `file` survives a NATS restart. */
  PRESENCE_STORAGE: z.enum(['memory', 'file'], { error: 'must be memory or file' }).default('memory'),
  /** Most bytes the participants bucket holds when it is created; past it joins get limit_exceeded. */
  PRESENCE_MAX_BYTES: intVar(1024 * 1024, 1024 ** 4, 256 * 1024 * 1024),
  /** Largest participant state, in bytes of JSON; the bucket's largest value is derived from it. */
  PRESENCE_MAX_STATE_BYTES: intVar(2, 64 * 1024, 1024),
};

/** Timing and limits a gateway node applies. */
export const presenceNodeVars = {
  /** How often a gateway writes its heartbeat. */
  PRESENCE_HEARTBEAT_MS: intVar(100, 60_000, 1000),
  /** A node whose heartbeat has not changed for this long is declared dead and swept. */
  PRESENCE_NODE_TIMEOUT_MS: intVar(300, 600_000, 5000),
  /** How often one live node looks for orphaned entries and purges old delete markers. */
  PRESENCE_JANITOR_MS: intVar(1000, 3_600_000, 60_000),
  /** Most participants in one presence channel; joining past it fails with limit_exceeded. */
  PRESENCE_MAX_PARTICIPANTS: intVar(1, 1_000_000, 1000),
};

export interface PresenceStoreSettings {
  bucket: string;
  replicas: number;
  storage: 'memory' | 'file';
  /** The participants bucket's `max_bytes`. */
  maxBytes: number;
  /** The participants bucket's largest value: the largest state plus the rest of an entry. */
  maxValueBytes: number;
}

/**
 * Bytes of a participant entry besides its state, at most: channel, identity and device are
 * up to 256 characters each (768 bytes of UTF-8), the address holds identity and device again,
 * plus node, instance, route, timestamps and JSON keys.
 */
export const ENTRY_OVERHEAD_BYTES = 4096;

export interface PresenceTiming {
  heartbeatMs: number;
  nodeTimeoutMs: number;
  janitorMs: number;
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
    replicas: env.PRESENCE_REPLICAS,
    storage: env.PRESENCE_STORAGE,
    maxBytes: env.PRESENCE_MAX_BYTES,
    maxValueBytes: env.PRESENCE_MAX_STATE_BYTES + ENTRY_OVERHEAD_BYTES,
  };
}

export function timingFrom(env: NodeVars): PresenceTiming {
  return { heartbeatMs: env.PRESENCE_HEARTBEAT_MS, nodeTimeoutMs: env.PRESENCE_NODE_TIMEOUT_MS, janitorMs: env.PRESENCE_JANITOR_MS };
}

export function limitsFrom(env: NodeVars & Pick<StoreVars, 'PRESENCE_MAX_STATE_BYTES'>): PresenceLimits {
  return { maxStateBytes: env.PRESENCE_MAX_STATE_BYTES, maxParticipants: env.PRESENCE_MAX_PARTICIPANTS };
}

/**
 * A node must miss several heartbeats before it is declared dead, or a busy event loop
 * would get a live node swept.
 */
export function checkTiming(env: NodeVars, ctx: z.core.$RefinementCtx): void {
  if (env.PRESENCE_NODE_TIMEOUT_MS < env.PRESENCE_HEARTBEAT_MS * 3) {
    ctx.addIssue({
      code: 'custom',
      path: ['PRESENCE_NODE_TIMEOUT_MS'],
      message: `must be at least 3 × PRESENCE_HEARTBEAT_MS (${env.PRESENCE_HEARTBEAT_MS * 3})`,
    });
  }
}
