import { z } from 'zod';

/**
 * One gateway's counts for one channel, the value under its occupancy key. `instance` is the
 * gateway process that wrote it: readers count it only while that process is the node's live one.
 */
export const occupancyValueSchema = z.object({
  node: z.string().max(64),
  instance: z.string().max(64),
  /** This gateway's connections subscribed to the channel (participants included). */
  connections: z.number().int().nonnegative(),
  /** This gateway's presence participants in the channel. */
  participants: z.number().int().nonnegative(),
  /** When the gateway wrote it, ms since epoch (its own clock; for operators, nothing decides on it). */
  updatedAt: z.number(),
});

export type OccupancyValue = z.infer<typeof occupancyValueSchema>;

/** Counts of a channel, on one gateway or cluster-wide. */
export interface OccupancyCounts {
  readonly connections: number;
  readonly participants: number;
}

export const NO_OCCUPANCY: OccupancyCounts = { connections: 0, participants: 0 };

/** The largest value, with room to spare: two short ids, two counts and a timestamp. */
export const MAX_OCCUPANCY_VALUE_BYTES = 512;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeOccupancy(value: OccupancyValue): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export function decodeOccupancy(data: Uint8Array): OccupancyValue | undefined {
  if (data.length > MAX_OCCUPANCY_VALUE_BYTES) return undefined;
  try {
    const parsed = occupancyValueSchema.safeParse(JSON.parse(decoder.decode(data)));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export function sameCounts(a: OccupancyCounts, b: OccupancyCounts): boolean {
  return a.connections === b.connections && a.participants === b.participants;
}

export function isEmpty(counts: OccupancyCounts): boolean {
  return counts.connections === 0 && counts.participants === 0;
}
