import { z } from 'zod';

/**
 * Facts of the Stelace Signal API shared by the gateway's Socket.IO surface and the emit
 * API's POST /signal, so both sides agree on what a name, a reserved event and a user
 * channel are.
 */

/** Event names Socket.IO clients or the Stelace handshake give their own meaning. */
export const STELACE_RESERVED_EVENTS: ReadonlySet<string> = new Set([
  'connect',
  'connection',
  'disconnect',
  'connect_error',
  'newListener',
  'removeListener',
  'authentication',
  'warning',
  'willDisconnect',
]);

/**
 * Stelace user ids start with `usr_`; Stelace protected channels of that form so only the
 * user's own token can join them. We keep that rule: a `usr_…` channel is a user channel,
 * joined only through a token whose identity it is, and POST /signal delivers a `usr_…`
 * destination to that user alone, never to a channel of the same name.
 */
export const STELACE_USER_PREFIX = 'usr_';

export function isStelaceUserChannel(name: string): boolean {
  return name.startsWith(STELACE_USER_PREFIX);
}

/**
 * Stelace organization ids start with `org_`; Stelace let only members join their channels.
 * Membership is not known here, so such channels are refused with a warning, never joined.
 */
export const STELACE_ORGANIZATION_PREFIX = 'org_';

export function isStelaceOrganizationChannel(name: string): boolean {
  return name.startsWith(STELACE_ORGANIZATION_PREFIX);
}

const namePattern = /^[a-z0-9-_]+$/i;

/** `destination` and `event` of POST /signal: trimmed, 1-256 of letters, digits, `-` and `_`. */
export const stelaceNameSchema = z
  .string({ error: 'must be a string' })
  .trim()
  .min(1, { error: 'must not be empty' })
  .max(256, { error: 'must be at most 256 characters' })
  .regex(namePattern, { error: 'must contain only letters, digits, - and _' });

export const stelaceEventSchema = stelaceNameSchema.refine((name) => !STELACE_RESERVED_EVENTS.has(name), {
  error: (issue) => `'${String(issue.input)}' is reserved by Socket.IO or the Stelace handshake; choose another event name`,
});
