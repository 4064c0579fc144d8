import type { Scope } from '../apps/registry.js';
import { encodeToken } from './token.js';

/**
 * Every NATS subject the system uses is built here. All traffic is scoped by app and
 * environment, so two apps (or test and live) never share a subject.
 *
 *   sig.<app>.<env>.ch.<channel>            channel traffic and presence events
 *   sig.<app>.<env>.u.<identity>            every connection of a user
 *   sig.<app>.<env>.d.<identity>.<device>   every connection of one device
 *   sig.<app>.<env>.ep.<node>.<conn>        one connection, on the node that holds it
 *   sig.<app>.<env>.all                     every connection of the app and environment
 *   hist.<app>.<env>.ch.<channel>           messages of a channel that keeps history: stored in the
 *                                           environment's stream, which republishes each on the
 *                                           channel's sig. subject with its sequence (docs/recovery.md)
 *   hist.<app>.<env>.u.<identity>           direct messages to a user, and to a device, where the
 *   hist.<app>.<env>.d.<identity>.<device>  environment keeps them: stored and republished the same way
 *   signal_webhook_messages.<app>.<env>.<channel>
 *                                           a client's publish on a channel whose namespace sends
 *                                           client messages to webhooks (docs/webhooks.md): stored
 *                                           in the dispatcher's messages log, never delivered to clients
 *   _signal.selfcheck.<node>                a gateway's messages to itself (liveness); outside
 *                                           every tenant's `sig.` space, so no tenant reaches it
 */
const PREFIX = 'sig';

function scopePrefix(scope: Scope): string {
  return `${PREFIX}.${scope.app}.${scope.env}`;
}

export function channelSubject(scope: Scope, channel: string): string {
  return `${scopePrefix(scope)}.ch.${encodeToken(channel)}`;
}

const HISTORY_PREFIX = 'hist';

/** Where messages of a channel that keeps history are published: into its environment's stream. */
export function historySubject(scope: Scope, channel: string): string {
  return `${HISTORY_PREFIX}.${scope.app}.${scope.env}.ch.${encodeToken(channel)}`;
}

/** Where a direct message to a user (no device) or a device is stored, where the environment keeps them. */
export function directHistorySubject(scope: Scope, identity: string, device?: string): string {
  const user = `${HISTORY_PREFIX}.${scope.app}.${scope.env}.u.${encodeToken(identity)}`;
  return device === undefined ? user : `${HISTORY_PREFIX}.${scope.app}.${scope.env}.d.${encodeToken(identity)}.${encodeToken(device)}`;
}

/** Every subject of an environment's history stream. */
export function historySubjects(scope: Scope): string {
  return `${HISTORY_PREFIX}.${scope.app}.${scope.env}.>`;
}

/** Where the history stream republishes what it stored: the same subjects under `sig.`. */
export function historyRepublishTarget(scope: Scope): string {
  return `${scopePrefix(scope)}.>`;
}

/**
 * An environment's history stream. App ids are `[a-z0-9_-]` and the environment is the last
 * `_` part, always `test` or `live`, so no two environments share a name.
 */
export function historyStreamName(scope: Scope): string {
  return `SIGNAL_HISTORY_${scope.app}_${scope.env}`;
}

/** The webhooks dispatcher's events (`<prefix>.<app>.<env>.<partition>`, the WEBHOOK_STREAM stream). */
export const WEBHOOK_EVENTS_PREFIX = 'signal_webhooks';
/** Its dead letters (`<prefix>.<app>.<env>.<endpoint id>`, WEBHOOK_STREAM `_dead`), which the emit-api lists and replays. */
export const WEBHOOK_DEAD_PREFIX = 'signal_webhooks_dead';
/**
 * Headers of a dead letter (docs/webhooks.md#dead-letters), set by the dispatcher and read by the
 * emit-api; `endpoint` also marks a replayed event as for that endpoint only.
 */
export const WEBHOOK_HEADERS = {
  endpoint: 'Signal-Webhook-Endpoint',
  subject: 'Signal-Webhook-Subject',
  attempts: 'Signal-Webhook-Attempts',
  error: 'Signal-Webhook-Error',
} as const;

/** The prefix of the webhooks dispatcher's log of client messages (WEBHOOK_STREAM `_log_messages`). */
export const WEBHOOK_MESSAGES_PREFIX = 'signal_webhook_messages';

/** Where a gateway stores a client's publish for the `client_message` webhook event. */
export function webhookMessageSubject(scope: Scope, channel: string): string {
  return `${WEBHOOK_MESSAGES_PREFIX}.${scope.app}.${scope.env}.${encodeToken(channel)}`;
}

export function userSubject(scope: Scope, identity: string): string {
  return `${scopePrefix(scope)}.u.${encodeToken(identity)}`;
}

export function deviceSubject(scope: Scope, identity: string, device: string): string {
  return `${scopePrefix(scope)}.d.${encodeToken(identity)}.${encodeToken(device)}`;
}

export function connectionSubject(scope: Scope, node: string, connection: string): string {
  return `${scopePrefix(scope)}.ep.${node}.${connection}`;
}

export function broadcastSubject(scope: Scope): string {
  return `${scopePrefix(scope)}.all`;
}

/** The one wildcard a gateway node subscribes to for all connection addresses it holds. */
export function nodeConnectionsWildcard(node: string): string {
  return `${PREFIX}.*.*.ep.${node}.*`;
}

/**
 * A gateway publishes here and expects its own message back, to prove its NATS input works
 * end to end. Not under `sig.`: nothing a tenant can address maps onto it.
 */
export function selfCheckSubject(node: string): string {
  return `_signal.selfcheck.${node}`;
}

/** Splits a connection subject back into scope and connection; undefined for anything else. */
export function parseConnectionSubject(subject: string): { app: string; env: string; connection: string } | undefined {
  const parts = subject.split('.');
  if (parts.length !== 6 || parts[0] !== PREFIX || parts[3] !== 'ep') return undefined;
  return { app: parts[1]!, env: parts[2]!, connection: parts[5]! };
}
