import type { NatsConnection } from '@nats-io/transport-node';
import { readLatest } from '../store/read-latest.js';
import { decodeNodeRecord } from './node-record.js';

const READ_TIMEOUT_MS = 5000;

/** The log calls this needs (pino's, matched by shape). */
interface AgreementLog {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

/** A gateway whose record says it runs with another PRESENCE_SHARDS. */
export interface Disagreeing {
  readonly node: string;
  readonly shards: number;
  readonly revision: number;
}

/**
 * Gateways in the heartbeat bucket that are not swept and use another shard count than
 * `shards` (a record without `shards` is from a gateway with one bucket).
 */
export async function disagreeingNodes(nc: NatsConnection, nodesBucket: string, shards: number, self?: string): Promise<Disagreeing[]> {
  const found: Disagreeing[] = [];
  // One request (the reads the gateway's NATS permissions already allow), not a KV key listing.
  for (const entry of await readLatest(nc, nodesBucket, '>', READ_TIMEOUT_MS)) {
    if (entry.deleted) continue;
    const record = decodeNodeRecord(entry.value);
    // Our own node id's record is from a process that is gone: node ids are unique among running gateways.
    if (!record || record.sweptBy !== undefined || record.node === self) continue;
    const theirs = record.shards ?? 1;
    if (theirs !== shards) found.push({ node: record.node, shards: theirs, revision: entry.revision });
  }
  return found;
}

/**
 * Holds a gateway's start while a live gateway runs with another PRESENCE_SHARDS: two counts
 * at once would put one channel's participants in two buckets, each side seeing only its own
 * (docs/presence.md#changing-the-shard-count). A disagreeing record that does not move for
 * `deadAfterMs` (its gateway died and nobody with its count is left to sweep it) is ignored.
 * Resolves once no live gateway disagrees; meanwhile the caller is not ready.
 */
export async function waitForShardAgreement(nc: NatsConnection, nodesBucket: string, self: string, shards: number, deadAfterMs: number, log: AgreementLog, pollMs = 500): Promise<void> {
  /** Per disagreeing node: the revision it had when first seen, and when. */
  const seen = new Map<string, { revision: number; at: number }>();
  let waited = false;
  for (;;) {
    const now = performance.now();
    const live = (await disagreeingNodes(nc, nodesBucket, shards, self)).filter((other) => {
      const before = seen.get(other.node);
      if (!before || before.revision !== other.revision) {
        seen.set(other.node, { revision: other.revision, at: now });
        return true;
      }
      return now - before.at < deadAfterMs;
    });
    if (live.length === 0) {
      if (waited) log.info({ shards }, 'no gateway runs with another PRESENCE_SHARDS any more; going on');
      return;
    }
    if (!waited) {
      log.warn(
        { shards, others: live.map((o) => ({ node: o.node, shards: o.shards })) },
        'waiting for gateways with another PRESENCE_SHARDS to stop: every gateway must use the same count (docs/presence.md#changing-the-shard-count)',
      );
    }
    waited = true;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
