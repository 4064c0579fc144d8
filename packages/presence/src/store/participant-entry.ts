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

/** Undefined for anything that is not a participant value: a stray write must not break listing. */
export function decodeParticipant(data: Uint8Array): ParticipantValue | undefined {
  try {
    const parsed = participantValueSchema.safeParse(JSON.parse(decoder.decode(data)));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
