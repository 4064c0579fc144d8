import {
  SignalError,
  matchesPattern,
  type Apps,
  type Capability,
  type ChannelGrant,
  type Envelope,
  type EnvironmentAuthorization,
  type Fields,
  type NamespaceOptions,
  type Operation,
  type Scope,
  type SendRule,
  type VerifiedChannelToken,
} from '@signal/core';

/*
 * Every authorization rule of the gateway (docs/authorization.md). Surfaces, the hub and the
 * presence service ask this module whether a connection may do something, and only translate
 * its answer; no other module decides who may subscribe, publish, be present or send.
 */

const RECEIVE_ONLY = "the user token's grants do not allow publishing (grants.publish is false)";

/** What one connection may do; replaced as a whole when a token or channel grant changes it. */
export interface Permissions {
  readonly anonymous: boolean;
  /** The token's `grants.publish` is false: no publish, no send, no presence state, whatever else it grants. */
  readonly receiveOnly: boolean;
  /** `all` for a token without `capability` in an open environment. */
  readonly channels: Capability | 'all';
  /** Whether `channels` is the token's capability, or the policy's default for a token without one. */
  readonly channelsFrom: 'token' | 'policy';
  readonly send: SendRule;
  readonly environment: EnvironmentAuthorization;
  /** What the token said, kept so a reloaded apps file can apply its environment settings to open connections. */
  readonly claims: TokenClaims;
  /** Grants of channel tokens passed with `signal.join {id, token}`, by channel; each counts until its `expiresAt`. */
  readonly channelGrants: ReadonlyMap<string, ChannelGrant>;
}

/** What a token (or, for `anonymous`, a publishable key) says, before the environment's policy applies. */
export interface TokenClaims {
  readonly anonymous: boolean;
  readonly publishGranted: boolean;
  readonly capability: Capability | undefined;
  readonly send: SendRule | undefined;
}

export function permissionsOf(claims: TokenClaims, environment: EnvironmentAuthorization): Permissions {
  const open = environment.policy === 'open';
  return {
    anonymous: claims.anonymous,
    receiveOnly: !claims.anonymous && !claims.publishGranted,
    channels: claims.capability ?? (open ? 'all' : []),
    channelsFrom: claims.capability === undefined ? 'policy' : 'token',
    send: claims.send ?? (open ? 'any' : 'none'),
    environment,
    claims,
    channelGrants: new Map(),
  };
}

/** The same token's permissions under an environment's new settings (a reloaded apps file); channel grants are kept. */
export function withEnvironment(permissions: Permissions, environment: EnvironmentAuthorization): Permissions {
  if (permissions.environment === environment) return permissions;
  return { ...permissionsOf(permissions.claims, environment), channelGrants: permissions.channelGrants };
}

/** Why an operation is refused, or undefined when it is allowed. Pure, for the rules' own tests. */
export function refusal(permissions: Permissions, operation: Operation, channel: string, nowMs = Date.now()): string | undefined {
  if (permissions.anonymous) {
    if (operation !== 'subscribe') return 'a publishable-key connection is receive-only and may only subscribe; connect with a user token';
    return permissions.environment.anonymous.some((pattern) => matchesPattern(pattern, channel))
      ? undefined
      : "publishable-key connections may not subscribe to it (the environment's authorization.anonymous patterns)";
  }
  if (operation === 'publish' && permissions.receiveOnly) return RECEIVE_ONLY;
  const namespace = namespaceOf(permissions.environment, channel);
  if (namespace && namespace.options[operation as 'presence' | 'publish'] === false) {
    return `namespace '${namespace.pattern}' does not allow ${operation} by clients`;
  }
  if (permissions.channels === 'all' || permissions.channels.some((rule) => rule.operations.includes(operation) && matchesPattern(rule.pattern, channel))) return undefined;
  const grant = permissions.channelGrants.get(channel);
  if (grant && grant.operations.includes(operation)) {
    if (nowMs < grant.expiresAt * 1000) return undefined;
    return `the channel token for it expired at ${new Date(grant.expiresAt * 1000).toISOString()}; join again with a fresh one`;
  }
  return permissions.channelsFrom === 'token'
    ? `the user token's capability grants no ${operation} on it`
    : 'the environment is restricted and the user token has no capability; mint it with one, or join with a channel token';
}

export function mayOnChannel(permissions: Permissions, operation: Operation, channel: string, nowMs = Date.now()): boolean {
  return refusal(permissions, operation, channel, nowMs) === undefined;
}

export function assertMay(permissions: Permissions, operation: Operation, channel: string): void {
  const why = refusal(permissions, operation, channel);
  if (why !== undefined) throw forbidden(`may not ${operation} on channel '${channel}': ${why}`, { channel, operation }, 'id');
}

/**
 * A channel's occupancy (how many connections and participants it has, no identities) may be
 * read by whoever may subscribe to the channel: a count tells less than the channel's messages.
 */
export function assertMayReadOccupancy(permissions: Permissions, channel: string): void {
  assertMay(permissions, 'subscribe', channel);
}

/** A presence state is written as a participant: it needs `presence` and a token that may publish. */
export function assertMayWriteState(permissions: Permissions, channel: string): void {
  if (permissions.receiveOnly) {
    throw forbidden(`may not set a presence state on channel '${channel}': ${RECEIVE_ONLY}`, { channel, operation: 'presence' }, 'state');
  }
  assertMay(permissions, 'presence', channel);
}

/**
 * A message in a channel (a publish, or a send scoped to the channel): a participant's state on
 * its own needs `presence`; anything else needs `publish`. `storesState` is true when the
 * message's `state` is written to presence (the sender is a participant).
 */
export function assertMayMessage(permissions: Permissions, channel: string, fields: Fields, storesState: boolean): void {
  if (storesState && 'state' in fields) {
    assertMayWriteState(permissions, channel);
    if (Object.keys(fields).length === 1) return;
  }
  assertMay(permissions, 'publish', channel);
}

/** A direct message to a user, device or connection of `identity`; `channel` when the message is scoped to one. */
export function assertMaySend(permissions: Permissions, identity: string, fields: Fields, channel: string | undefined): void {
  const why = sendRefusal(permissions, identity);
  if (why !== undefined) throw forbidden(`may not send to '${identity}': ${why}`, { to: identity, operation: 'send' }, 'to');
  if (channel !== undefined) assertMayMessage(permissions, channel, fields, true);
}

export function sendRefusal(permissions: Permissions, identity: string): string | undefined {
  if (permissions.anonymous) return 'a publishable-key connection is receive-only and may not send; connect with a user token';
  if (permissions.receiveOnly) return RECEIVE_ONLY;
  const rule = permissions.send;
  if (rule === 'any') return undefined;
  if (rule !== 'none' && rule.some((pattern) => matchesPattern(pattern, identity))) return undefined;
  return rule === 'none' ? "the user token's send rule is 'none'" : "no pattern of the user token's send rule matches that identity";
}

/** Who holds a connection, as far as a channel token's binding goes. */
export interface Holder {
  readonly scope: Scope;
  readonly identity: string;
  readonly device: string;
  readonly anonymous: boolean;
}

/**
 * Adds a verified channel token's grant: it must be for this channel and for the connection's
 * user (and device, when it names one), in its app and environment. A later token for the
 * same channel replaces the earlier grant, so renewing is joining again with a fresh token.
 */
export function withChannelToken(permissions: Permissions, holder: Holder, channel: string, token: VerifiedChannelToken): Permissions {
  const fail = (why: string) => forbidden(`may not use this channel token: ${why}`, { channel, operation: 'subscribe' }, 'token');
  if (holder.anonymous) throw fail('channel tokens are for users; connect with a user token');
  if (token.scope.app !== holder.scope.app || token.scope.env !== holder.scope.env) throw fail('it belongs to another app or environment');
  if (token.identity !== holder.identity || (token.device !== undefined && token.device !== holder.device)) {
    throw fail(`it was minted for '${token.identity}${token.device === undefined ? '' : `/${token.device}`}', not this connection's user`);
  }
  if (token.channel !== channel) throw fail(`it is for channel '${token.channel}'`);
  const channelGrants = new Map(permissions.channelGrants);
  channelGrants.set(channel, { channel, operations: token.operations, expiresAt: token.expiresAt, key: token.key });
  return { ...permissions, channelGrants };
}

/** Leaving a channel gives up its grant too, so grants never outnumber joined channels. */
export function withoutChannelGrant(permissions: Permissions, channel: string): Permissions {
  if (!permissions.channelGrants.has(channel)) return permissions;
  const channelGrants = new Map(permissions.channelGrants);
  channelGrants.delete(channel);
  return { ...permissions, channelGrants };
}

/** A refreshed user token keeps the channel grants the connection already holds (they are bound to the same user). */
export function withChannelGrantsOf(next: Permissions, previous: Permissions): Permissions {
  return previous.channelGrants.size === 0 ? next : { ...next, channelGrants: previous.channelGrants };
}

/** Says whether an envelope of a channel goes only to the connections that joined it with presence. */
export type PresenceEventRule = (scope: Scope, envelope: Envelope) => boolean;

/**
 * Joins and leaves always need presence to be seen. In a restricted environment a stored state
 * update (a participant's publish whose only field is its `state`) does too, so a member without
 * `presence` cannot read who is there and their states; open environments keep the old contract,
 * where plain members get states as messages. A frame with more than the state is a message to all.
 */
export function presenceEventRule(registry: Pick<Apps, 'authorizationOf'>): PresenceEventRule {
  return (scope, envelope) => {
    if (envelope.t === 'join' || envelope.t === 'leave') return true;
    if (envelope.t !== 'publish' || envelope.rev === undefined) return false;
    return Object.keys(envelope.fields).length === 1 && 'state' in envelope.fields && registry.authorizationOf(scope).policy === 'restricted';
  };
}

/** The participant limit of a channel: its namespace's `maxParticipants` when lower than the node's. */
export function participantLimit(permissions: Permissions, channel: string, nodeLimit: number): { most: number; setBy: string } {
  const namespace = namespaceOf(permissions.environment, channel);
  const most = namespace?.options.maxParticipants;
  return most !== undefined && most < nodeLimit
    ? { most, setBy: `authorization.namespaces['${namespace!.pattern}'].maxParticipants` }
    : { most: nodeLimit, setBy: 'PRESENCE_MAX_PARTICIPANTS' };
}

function namespaceOf(environment: EnvironmentAuthorization, channel: string): { pattern: string; options: NamespaceOptions } | undefined {
  return environment.namespaces.find((namespace) => matchesPattern(namespace.pattern, channel));
}

function forbidden(message: string, data: Record<string, string>, field: string): SignalError {
  return new SignalError('forbidden', `this connection ${message}`, { field, data });
}
