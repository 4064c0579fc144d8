import { z } from 'zod';
import {
  SignalError,
  broadcastSubject,
  channelNameSchema,
  connectionSubject,
  deviceSubject,
  nodeOfRoute,
  parseAddress,
  userSubject,
  channelSubject,
  type Envelope,
  type Fields,
  type Scope,
} from '@signal/core';

/** Where a signal goes: exactly one key per destination object. */
export const destinationSchema = z.union([
  z.strictObject({ channel: channelNameSchema }),
  z.strictObject({ user: z.string().min(1).max(128) }),
  z.strictObject({ device: z.string().min(3).max(260) }),
  z.strictObject({ connection: z.string().min(5).max(300) }),
  z.strictObject({ broadcast: z.literal(true) }),
], { error: 'must be one of {channel}, {user}, {device}, {connection} or {broadcast: true}' });

export type Destination = z.infer<typeof destinationSchema>;

export interface Target {
  subject: string;
  envelope: Envelope;
  /** A user's or device's address: where the environment keeps direct messages, the history stores it (docs/recovery.md). */
  direct?: { identity: string; device?: string };
}

/** Resolves a destination to the NATS subject and envelope that reach it. */
export function targetOf(scope: Scope, destination: Destination, fields: Fields, field: string): Target {
  if ('channel' in destination) {
    return { subject: channelSubject(scope, destination.channel), envelope: { t: 'publish', ch: destination.channel, fields } };
  }
  if ('broadcast' in destination) return { subject: broadcastSubject(scope), envelope: { t: 'send', fields } };
  const text = 'user' in destination ? destination.user : 'device' in destination ? destination.device : destination.connection;
  let address;
  try {
    address = parseAddress(text);
  } catch (error) {
    throw new SignalError('bad_request', (error as Error).message, { field });
  }
  const expected = 'user' in destination ? 'user' : 'device' in destination ? 'device' : 'connection';
  if (address.kind !== expected) {
    const shape = { user: 'identity', device: 'identity/device', connection: 'identity/device/route' }[expected];
    throw new SignalError('bad_request', `'${field}' must be an address of the form ${shape}`, { field });
  }
  const envelope: Envelope = { t: 'send', fields };
  switch (address.kind) {
    case 'user':
      return { subject: userSubject(scope, address.identity), envelope, direct: { identity: address.identity } };
    case 'device':
      return { subject: deviceSubject(scope, address.identity, address.device), envelope, direct: { identity: address.identity, device: address.device } };
    case 'connection':
      return { subject: connectionSubject(scope, nodeOfRoute(address.route)!, address.route), envelope };
  }
}
