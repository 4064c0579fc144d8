import { encodeToken, routePattern, type Scope } from '@signal/core';

/**
 * Participant keys: `<app>.<env>.<channel token>.<node>.<connection>`, one per connection
 * in a presence channel. The channel token is `encodeToken(channel)`, so any channel name
 * becomes KV-safe characters; the route `<node>-<connection>` is split into two tokens so
 * that one filter lists a channel (`app.env.channel.*.*`) and another every entry a node
 * holds (`*.*.*.node.*`), which is what a sweep of a dead node needs.
 */
export function participantKey(scope: Scope, channel: string, route: string): string {
  const match = routePattern.exec(route);
  if (!match) throw new TypeError(`route '${route}' is not <node>-<connection>`);
  return `${scope.app}.${scope.env}.${encodeToken(channel)}.${match[1]}.${match[2]}`;
}

export function channelKeyFilter(scope: Scope, channel: string): string {
  return `${scope.app}.${scope.env}.${encodeToken(channel)}.*.*`;
}

export function nodeKeyFilter(node: string): string {
  return `*.*.*.${node}.*`;
}

/** Every participant key in the bucket. */
export const ALL_PARTICIPANTS = '*.*.*.*.*';

/** The node token of a participant key, or undefined for a key that is not one. */
export function nodeOfKey(key: string): string | undefined {
  const parts = key.split('.');
  return parts.length === 5 ? parts[3] : undefined;
}

/** The connection route (`<node>-<connection>`) a participant key belongs to. */
export function routeOfKey(key: string): string | undefined {
  const parts = key.split('.');
  return parts.length === 5 ? `${parts[3]}-${parts[4]}` : undefined;
}
