import { encodeToken, type Scope } from '@signal/core';

/**
 * Occupancy keys: `<app>.<env>.<channel token>.<node>`, one per channel per gateway holding
 * connections in it. The channel token is `encodeToken(channel)`, as in presence keys, so any
 * channel name becomes one KV-safe token; one filter lists a channel (`app.env.channel.*`),
 * another every key of one gateway (`*.*.*.node`).
 */
export function occupancyKey(scope: Scope, channel: string, node: string): string {
  return `${channelPrefix(scope, channel)}.${node}`;
}

export function occupancyChannelFilter(scope: Scope, channel: string): string {
  return `${channelPrefix(scope, channel)}.*`;
}

export function occupancyNodeFilter(node: string): string {
  return `*.*.*.${node}`;
}

/** The node token of an occupancy key, or undefined for a key that is not one. */
export function nodeOfOccupancyKey(key: string): string | undefined {
  const parts = key.split('.');
  return parts.length === 4 ? parts[3] : undefined;
}

function channelPrefix(scope: Scope, channel: string): string {
  return `${scope.app}.${scope.env}.${encodeToken(channel)}`;
}
