import { ENVIRONMENTS, decodeToken, type Environment } from '@signal/core';
import { z } from 'zod';
import { participantValueSchema } from '@signal/presence';
import type { WebhookEvent, WebhookMember } from '../events/webhook-event.js';

/** One write to a watched bucket, as its log (a mirror of the bucket's stream) holds it. */
export interface LogRecord {
  /** The bucket stream's sequence (a mirror keeps them): events are named after it. */
  readonly seq: number;
  /** When NATS stored the write, ms since the epoch. */
  readonly time: number;
  /** The key written. */
  readonly key: string;
  /** Whether the write removed the key (KV-Operation DEL or PURGE). */
  readonly removed: boolean;
  /** Set when a sweep of a dead gateway process removed the key (Signal-Swept-By). */
  readonly swept: boolean;
  readonly data: Uint8Array;
}

/**
 * Turns one bucket's writes, in the order of its stream, into webhook events. Each is a pure
 * function of the records it was given since its snapshot: replaying the same records from
 * the same snapshot yields the same events with the same ids, which makes restarts exact
 * (docs/webhooks.md#exactly-one-event-per-transition).
 */
export interface Derivation {
  apply(record: LogRecord): WebhookEvent | undefined;
  /** Everything it knows, as JSON, for a checkpoint. */
  snapshot(): unknown;
}

interface Member extends WebhookMember {
  channel: string;
}

type Base = { id: string; time: number; app: string; env: Environment };

/**
 * Presence (`<app>.<env>.<channel token>.<node>.<connection>`): a put of a key not present is
 * member_added (a put of a present key is a state update: no event, but the state is kept for
 * the member_removed that follows); a delete of a present key is member_removed.
 */
export class MemberDerivation implements Derivation {
  private readonly members: Map<string, Member>;
  /** Keys present per `<app>.<env>.<channel>`, each with the time of the put that added it (0 when it came from a snapshot). */
  private readonly byChannel = new Map<string, Map<string, number>>();

  constructor(
    private readonly idPrefix: string,
    snapshot?: unknown,
  ) {
    this.members = new Map((snapshot as [string, Member][] | undefined) ?? []);
    for (const [key, member] of this.members) this.index(key, key.split('.'), member.channel, 0);
  }

  snapshot(): [string, Member][] {
    return [...this.members];
  }

  /** Whether a member of the channel added at or before `time` is still present (its member_removed not derived yet). */
  hasMemberSince(app: string, env: string, channel: string, time: number): boolean {
    for (const addedAt of this.byChannel.get(`${app}.${env}.${channel}`)?.values() ?? []) if (addedAt <= time) return true;
    return false;
  }

  apply(record: LogRecord): WebhookEvent | undefined {
    const parts = record.key.split('.');
    const base = baseOf(this.idPrefix, record, parts);
    if (parts.length !== 5 || !base) return undefined;
    const known = this.members.get(record.key);
    if (record.removed) {
      if (!known) return undefined;
      this.members.delete(record.key);
      const group = `${parts[0]}.${parts[1]}.${known.channel}`;
      const keys = this.byChannel.get(group);
      keys?.delete(record.key);
      if (keys?.size === 0) this.byChannel.delete(group);
      const { channel, ...member } = known;
      return { ...base, type: 'member_removed', channel, member, swept: record.swept };
    }
    const value = parse(participantValueSchema, record.data);
    if (!value) return undefined;
    const member: Member = { channel: value.channel, address: value.address, identity: value.identity, device: value.device, joinedAt: value.joinedAt };
    if (value.state !== undefined && value.state !== null) member.state = value.state;
    this.members.set(record.key, member);
    if (known) return undefined;
    this.index(record.key, parts, member.channel, record.time);
    const { channel, ...shown } = member;
    return { ...base, type: 'member_added', channel, member: shown };
  }

  private index(key: string, parts: string[], channel: string, time: number): void {
    const group = `${parts[0]}.${parts[1]}.${channel}`;
    let keys = this.byChannel.get(group);
    if (!keys) this.byChannel.set(group, (keys = new Map()));
    keys.set(key, time);
  }
}

/**
 * Online and occupancy (`<app>.<env>.<token>.<node>`, one key per node holding the identity or
 * channel): the first node's key appearing is user_online/channel_occupied, the last one's
 * going user_offline/channel_vacated. Decided on the bucket's history, so it is the cluster's
 * answer, whatever each node saw.
 */
export class NodeSetDerivation implements Derivation {
  private readonly groups: Map<string, Set<string>>;

  constructor(
    private readonly about: 'user' | 'channel',
    private readonly idPrefix: string,
    snapshot?: unknown,
  ) {
    this.groups = new Map(((snapshot as [string, string[]][] | undefined) ?? []).map(([group, nodes]) => [group, new Set(nodes)]));
  }

  snapshot(): [string, string[]][] {
    return [...this.groups].map(([group, nodes]) => [group, [...nodes]]);
  }

  apply(record: LogRecord): WebhookEvent | undefined {
    const parts = record.key.split('.');
    const base = baseOf(this.idPrefix, record, parts);
    if (parts.length !== 4 || !base) return undefined;
    const group = `${parts[0]}.${parts[1]}.${parts[2]}`;
    const node = parts[3]!;
    const name = decodeToken(parts[2]!);
    let nodes = this.groups.get(group);
    if (!record.removed) {
      if (!nodes) this.groups.set(group, (nodes = new Set()));
      const first = nodes.size === 0;
      nodes.add(node);
      if (!first) return undefined;
      return this.about === 'user' ? { ...base, type: 'user_online', user: name } : { ...base, type: 'channel_occupied', channel: name };
    }
    if (!nodes?.delete(node) || nodes.size > 0) return undefined;
    this.groups.delete(group);
    const swept = record.swept;
    return this.about === 'user' ? { ...base, type: 'user_offline', user: name, swept } : { ...base, type: 'channel_vacated', channel: name, swept };
  }
}

/**
 * What a gateway stores for a client publish (services/gateway/src/webhooks/client-message-log.ts),
 * checked again: anything allowed to publish on the subject could have written it.
 */
const clientMessageSchema = z.object({
  channel: z.string().min(1).max(1024),
  sender: z.object({ address: z.string().max(1024), identity: z.string().max(1024), device: z.string().max(1024), connection: z.string().max(1024) }),
  fields: z.record(z.string(), z.unknown()),
});

/**
 * Messages (`<app>.<env>.<channel token>`): every record is one client_message, with no state
 * between records. `event` repeats the message's `event` field when it is a string, the
 * convention of backend signals (`{event, message}`), so a receiver can route on it.
 */
export class MessageDerivation implements Derivation {
  constructor(private readonly idPrefix: string) {}

  snapshot(): null {
    return null;
  }

  apply(record: LogRecord): WebhookEvent | undefined {
    const parts = record.key.split('.');
    const base = baseOf(this.idPrefix, record, parts);
    if (parts.length !== 3 || !base || record.removed) return undefined;
    const value = parse(clientMessageSchema, record.data);
    if (!value || value.channel !== decodeToken(parts[2]!)) return undefined;
    const name = value.fields.event;
    return {
      ...base,
      type: 'client_message',
      channel: value.channel,
      sender: value.sender,
      ...(typeof name === 'string' ? { event: name } : {}),
      message: value.fields,
    };
  }
}

function baseOf(idPrefix: string, record: LogRecord, parts: string[]): Base | undefined {
  const [app, env] = parts;
  if (!app || !ENVIRONMENTS.includes(env as Environment)) return undefined;
  return { id: `${idPrefix}-${record.seq}`, time: record.time, app, env: env as Environment };
}

const decoder = new TextDecoder();

function parse<T>(schema: { safeParse(value: unknown): { success: true; data: T } | { success: false } }, data: Uint8Array): T | undefined {
  try {
    const result = schema.safeParse(JSON.parse(decoder.decode(data)));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}
