import { z } from 'zod';

/**
 * What a participant key holds. `node` and `instance` say which gateway process wrote it,
 * so a sweep removes exactly the entries of a process that died, never those of a newer
 * process that reuses the node id.
 */
export const participantValueSchema = z.object({
  channel: z.string(),
  address: z.string(),
  identity: z.string(),
  device: z.string(),
  node: z.string(),
  instance: z.string(),
  joinedAt: z.number(),
  state: z.unknown().optional(),
});

export type ParticipantValue = z.infer<typeof participantValueSchema>;

/** A participant as the store holds it: the value plus its key and revision. */
export interface StoredParticipant extends ParticipantValue {
  readonly key: string;
  readonly revision: number;
}

/** What clients see of a participant. */
export interface ParticipantView {
  address: string;
  identity: string;
  device: string;
  state?: unknown;
  joinedAt: number;
}

export function viewOf(participant: ParticipantValue): ParticipantView {
  const view: ParticipantView = {
    address: participant.address,
    identity: participant.identity,
    device: participant.device,
    joinedAt: participant.joinedAt,
  };
  if (participant.state !== undefined && participant.state !== null) view.state = participant.state;
  return view;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeParticipant(value: ParticipantValue): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/**
 * Undefined for anything that is not a participant value: a stray write must not break listing.
 * The same rules as `participantValueSchema.safeParse` (the known fields with their types,
 * anything else dropped; `test/participant-entry.test.ts` holds them side by side), checked
 * field by field: a gateway opening its feed of a 10,000-member channel decodes 10,000 entries
 * before a newcomer gets the list, and the schema's parse was the largest part of that decoding.
 */
export function decodeParticipant(data: Uint8Array): ParticipantValue | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(data));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const { channel, address, identity, device, node, instance, joinedAt } = parsed as Record<string, unknown>;
  if (
    typeof channel !== 'string' ||
    typeof address !== 'string' ||
    typeof identity !== 'string' ||
    typeof device !== 'string' ||
    typeof node !== 'string' ||
    typeof instance !== 'string' ||
    typeof joinedAt !== 'number' ||
    !Number.isFinite(joinedAt)
  ) {
    return undefined;
  }
  const value: ParticipantValue = { channel, address, identity, device, node, instance, joinedAt };
  if (Object.hasOwn(parsed, 'state')) value.state = (parsed as { state: unknown }).state;
  return value;
}
