import {
  type SignalError,
  TokenError,
  channelNameSchema,
  isStelaceOrganizationChannel,
  isStelaceUserChannel,
  verifyUserToken,
  type Apps,
  type TokenRules,
  type VerifiedUser,
} from '@signal/core';
import { anonymousPrincipalOf, principalOf, type Principal } from '../../auth/authenticate-connection.js';
import { mayOnChannel } from '../../auth/permissions.js';
import type { RevocationList } from '../../auth/revocation-list.js';

/**
 * The answer a Stelace client gives to `authentication(id, ack)`, checked in Stelace's order
 * so each failure yields Stelace's exact reason string.
 */
export type HandshakeOutcome =
  | { ok: true; principal: Principal; channels: string[]; warnings: string[] }
  | { ok: false; reason: string; label?: string };

export const REASONS = {
  channels: 'channels must be a String or an Array of Strings.',
  missingKey: 'Missing publishable API key',
  invalidKey: 'Invalid API key',
  ownUserChannel: 'Can only subscribe to own user channel',
  missingToken: 'Missing authentication token',
  tokenNotString: 'String authentication token expected',
  invalidToken: 'Invalid authentication token',
} as const;

/** A short stable label for a refusal reason, for metrics: `stelace_invalid_token`, `stelace_timeout`, … */
export function reasonLabel(reason: string): string {
  const key = Object.entries(REASONS).find(([, text]) => text === reason)?.[0];
  return key === undefined ? 'stelace_timeout' : `stelace_${key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`;
}

/**
 * Our own refusals, which Stelace did not have: a handshake over a resource limit
 * (docs/limits.md). The reason names the limit and its variable.
 */
export function limitReason(error: SignalError): { reason: string; label: string } {
  const variable = (error.data as { limit?: string } | undefined)?.limit;
  const channels = variable === 'MAX_CHANNELS_PER_CONNECTION';
  return {
    reason: `${channels ? 'Too many channels' : 'Too many connections'}: ${error.message}`,
    label: channels ? 'stelace_too_many_channels' : 'stelace_too_many_connections',
  };
}

export function authenticationTimeoutReason(timeoutMs: number): string {
  return `Authentication timeout after ${timeoutMs}ms`;
}

/**
 * `route` is the id the client was given in `authentication`: that channel is the
 * connection itself, so asking for it joins nothing more.
 */
export function checkAuthentication(registry: Apps, revocations: RevocationList, tokenRules: TokenRules, answer: unknown, route: string): HandshakeOutcome {
  const fields = typeof answer === 'object' && answer !== null ? (answer as Record<string, unknown>) : {};
  const requested = requestedChannels(fields);
  if (requested === undefined) return fail(REASONS.channels);
  const key = fields.publishableKey;
  if (typeof key !== 'string') return fail(REASONS.missingKey);
  const scope = registry.byPublishableKey(key);
  if (!scope) return fail(REASONS.invalidKey);

  const userChannels = requested.filter(isStelaceUserChannel);
  if (userChannels.length > 1) return fail(REASONS.ownUserChannel);
  const organizationChannels = requested.filter(isStelaceOrganizationChannel);

  let user: VerifiedUser | undefined;
  const token = fields.authToken;
  if (Boolean(token) || userChannels.length > 0 || organizationChannels.length > 0) {
    if (!token) return fail(REASONS.missingToken);
    if (typeof token !== 'string') return fail(REASONS.tokenNotString);
    try {
      user = verifyUserToken(registry, token, tokenRules);
    } catch (error) {
      // An expired token is not a failure in Stelace: the socket just does not get its user channel.
      if (!(error instanceof TokenError && error.reason === 'expired')) return fail(REASONS.invalidToken);
    }
    if (user && user.scope !== scope) return fail(REASONS.invalidToken);
    // A revoked token is an invalid one to a Stelace client; the metric tells them apart.
    if (user && revocations.revokedBy(user.scope, user.identity, { id: user.tokenId, issuedAt: user.issuedAt })) {
      return { ok: false, reason: REASONS.invalidToken, label: 'stelace_revoked' };
    }
  }
  // With a token, the user's own channel is already one; asking for another user's is asking for two.
  if (user && userChannels.some((channel) => channel !== user.identity)) return fail(REASONS.ownUserChannel);

  const principal = user ? principalOf(registry, user, key) : anonymousPrincipalOf(registry, scope, key);
  const channels: string[] = [];
  const warnings: string[] = [];
  // Stelace warned members-only refusals and stayed connected; without membership data every one is refused.
  if (user) for (const name of organizationChannels) warnings.push(notGranted(user.identity, name));
  for (const name of requested) {
    if (isStelaceUserChannel(name) || isStelaceOrganizationChannel(name) || name === route || name === user?.identity) continue;
    const valid = channelNameSchema.safeParse(name);
    if (!valid.success) warnings.push(`Channel '${name.slice(0, 64)}' was not joined: it ${valid.error.issues[0]!.message}.`);
    // A channel the environment's authorization withholds is refused the way Stelace refused one.
    else if (!mayOnChannel(principal.permissions, 'subscribe', name)) warnings.push(notGranted(user?.identity ?? 'Anonymous', name));
    else channels.push(name);
  }
  return { ok: true, principal, channels, warnings };
}

/**
 * `channels` (what Stelace's server reads) and `channel` (what its docs show), each a string
 * or an array of strings. Empty names and repeats are dropped; undefined means malformed.
 */
function requestedChannels(fields: Record<string, unknown>): string[] | undefined {
  const names = new Set<string>();
  for (const value of [fields.channels, fields.channel]) {
    if (value === undefined) continue;
    const list = Array.isArray(value) ? (value as unknown[]) : [value];
    for (const name of list) {
      if (typeof name !== 'string') return undefined;
      if (name !== '') names.add(name);
    }
  }
  return [...names];
}

function notGranted(identity: string, channel: string): string {
  return `${identity} was not granted access to ${channel}.`;
}

function fail(reason: string): HandshakeOutcome {
  return { ok: false, reason };
}
