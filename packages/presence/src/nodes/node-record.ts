import { z } from 'zod';

/**
 * A gateway's heartbeat record in `<bucket>_nodes`, keyed by node id. Every beat rewrites it,
 * so its revision moves; a node whose revision stops moving is dead. `sweptBy` is set by the
 * node that claimed it for sweeping.
 */
export const nodeRecordSchema = z.object({
  node: z.string(),
  instance: z.string(),
  beatAt: z.number(),
  /** When this process registered (ms since epoch); absent in records of older gateways. */
  startedAt: z.number().optional(),
  /** Open client connections at the last beat, every surface; absent in records of older gateways. */
  connections: z.number().int().nonnegative().optional(),
  sweptBy: z.string().optional(),
  /**
   * Set by gateways that also beat on plain NATS (`beat-listener.ts`); a record without it is
   * from an older gateway, judged on its record alone, with the longer timeout of that time.
   */
  beats: z.boolean().optional(),
  /** The writer's PRESENCE_SHARDS; absent in records of older gateways, which had one bucket. */
  shards: z.number().int().positive().optional(),
});

export type NodeRecord = z.infer<typeof nodeRecordSchema>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeNodeRecord(record: NodeRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

export function decodeNodeRecord(data: Uint8Array): NodeRecord | undefined {
  try {
    const parsed = nodeRecordSchema.safeParse(JSON.parse(decoder.decode(data)));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
