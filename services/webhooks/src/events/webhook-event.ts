import { ENVIRONMENTS, WEBHOOK_EVENTS, type Environment, type WebhookEventType } from '@signal/core';
import { z } from 'zod';

/** A presence participant as member events describe it (docs/presence.md). */
export interface WebhookMember {
  address: string;
  identity: string;
  device: string;
  state?: unknown;
  joinedAt: number;
}

interface EventBase {
  /** Unique and stable: the same transition always has the same id, so a receiver can drop a redelivery. */
  id: string;
  /** When the write that caused it was stored in NATS, ms since the epoch. */
  time: number;
  app: string;
  env: Environment;
}

export type WebhookEvent =
  | (EventBase & { type: 'user_online'; user: string })
  | (EventBase & { type: 'user_offline'; user: string; swept: boolean })
  | (EventBase & { type: 'channel_occupied'; channel: string })
  | (EventBase & { type: 'channel_vacated'; channel: string; swept: boolean })
  | (EventBase & { type: 'member_added'; channel: string; member: WebhookMember })
  | (EventBase & { type: 'member_removed'; channel: string; member: WebhookMember; swept: boolean })
  | (EventBase & { type: 'client_message'; channel: string; sender: WebhookSender; event?: string; message: Record<string, unknown> });

/** Who published a client message: its connection's address and the parts of it. */
export interface WebhookSender {
  address: string;
  identity: string;
  device: string;
  /** The connection's own id (the address's last part): one device may hold several connections. */
  connection: string;
}

/**
 * What the dispatcher reads back from the events stream: checked, because anything with
 * access to the subject could have written it, and a bad message must not stop a partition.
 */
export const storedEventSchema = z
  .object({
    id: z.string().min(1).max(128),
    type: z.enum(WEBHOOK_EVENTS),
    time: z.number(),
    app: z.string().min(1).max(63),
    env: z.enum(ENVIRONMENTS),
  })
  .loose();

export type StoredEvent = z.infer<typeof storedEventSchema> & { type: WebhookEventType };

/**
 * The events subject: `<prefix>.<app>.<env>.<partition>`. Events of one channel (channel and
 * member events) or of one user (online/offline) always share a partition, and a partition has
 * at most one request in flight per endpoint, so their order holds.
 */
export function eventSubject(prefix: string, event: WebhookEvent, partitions: number): string {
  const key = event.type === 'user_online' || event.type === 'user_offline' ? `u:${event.user}` : `c:${event.channel}`;
  return `${prefix}.${event.app}.${event.env}.${partitionOf(key, partitions)}`;
}

/** FNV-1a over the key's UTF-16 units: stable across processes and versions, cheap, spread well enough. */
export function partitionOf(key: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitions;
}
