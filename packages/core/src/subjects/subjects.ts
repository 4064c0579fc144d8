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
