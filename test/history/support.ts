import type { AppsFile } from '@signal/core';
import type { Frame, RpcClient } from '../support/rpc-client.js';
import { emit, keysOf, type Stack } from '../support/stack.js';

/**
 * Channels starting with `hist-` keep history in alpha's test environment: `maxMessages` for a
 * minute; `namespaces` adds (or overrides) namespaces, `directMessages` keeps direct messages too.
 */
export function withHistory(maxMessages: number, more: { directMessages?: boolean; namespaces?: Record<string, unknown> } = {}): (apps: AppsFile['apps']) => void {
  return (apps) => {
    const env = apps.find((app) => app.id === 'alpha')!.environments.test as Record<string, unknown>;
    env.history = { maxMessages, maxAgeSeconds: 60, maxBytes: 1024 * 1024, ...(more.directMessages ? { directMessages: true } : {}) };
    env.authorization = { policy: 'open', namespaces: { 'hist-*': { history: true }, ...more.namespaces } };
  };
}

/** A backend signal to a user (`identity`) or device (`identity/device`); resolves with where the history stored it. */
export async function emitDirect(stack: Stack, to: { user: string } | { device: string }, message: unknown): Promise<Position> {
  const { status, body } = await emit(stack, '/v1/signals', keysOf(stack, 'alpha').secretKey, { to, event: 'e', message });
  if (status !== 202) throw new Error(`emit failed: ${status} ${JSON.stringify(body)}`);
  const history = body!.history as Array<{ position: Position }> | undefined;
  if (history?.length !== 1) throw new Error(`emit was not stored: ${JSON.stringify(body)}`);
  return history[0]!.position;
}

/** The direct messages (not channel-scoped) a client got, in order. */
export function directPayloads(client: RpcClient): unknown[] {
  return client.received('signal.send').filter((f) => f.params!.id === undefined).map((f) => f.params!.message ?? f.params!.text);
}

/** The connect query that recovers direct messages from `position`. */
export function sinceQuery(position: Position): string {
  return `since=${position.offset}:${encodeURIComponent(position.epoch)}`;
}

export interface Position {
  offset: number;
  epoch: string;
}

/** A backend signal to a channel; resolves with where the history stored it. */
export async function emitTo(stack: Stack, channel: string, message: unknown): Promise<Position> {
  const { status, body } = await emit(stack, '/v1/signals', keysOf(stack, 'alpha').secretKey, { to: { channel }, event: 'e', message });
  if (status !== 202) throw new Error(`emit failed: ${status} ${JSON.stringify(body)}`);
  const history = body!.history as Array<{ channel: string; position: Position }>;
  if (history.length !== 1) throw new Error(`emit was not stored: ${JSON.stringify(body)}`);
  return history[0]!.position;
}

/** The channel messages a client got, in order: what each carried as `message` (emits) or `text` (clients). */
export function payloads(client: RpcClient, channel: string): unknown[] {
  return client.received('signal.publish').filter((f) => f.params!.id === channel).map((f) => f.params!.message ?? f.params!.text);
}

export function positionOf(frame: Frame): Position {
  return frame.params!.position as Position;
}
