import type { NatsConnection } from '@nats-io/transport-node';
import type { MessageGuard } from '@signal/operations';
import { RevocationWatch, openRevocationBucket, waitAtStart, type Revocation, type RevocationStoreSettings } from '@signal/presence';
import type { Logger } from 'pino';
import { RevocationList } from './revocation-list.js';

/** How often entries whose tokens have all expired are forgotten. */
const PRUNE_EVERY_MS = 60_000;

export interface RevocationFeed {
  readonly list: RevocationList;
  stop(): void;
}

/**
 * Keeps this gateway's revocation list in step with the bucket: one KV watch, started before the
 * gateway takes connections, reopened after a NATS reconnect (the bucket is created again if a
 * NATS restart lost it; entries this node already knows stay known until they expire).
 */
export async function startRevocationFeed(deps: {
  nc: NatsConnection;
  settings: RevocationStoreSettings;
  guard: MessageGuard;
  log: Logger;
  onRevoked: (revocation: Revocation) => void;
}): Promise<RevocationFeed> {
  const { nc, settings, guard, log } = deps;
  const bucket = await waitAtStart('the revocation bucket', () => openRevocationBucket(nc, settings), log);
  if (bucket.mismatches.length > 0) {
    log.warn({ bucket: settings.bucket, differences: bucket.mismatches }, 'revocation bucket exists with other settings; using it as it is');
  }
  const list = new RevocationList(bucket.maxAgeMs);
  list.onRevoked(deps.onRevoked);
  const watch = new RevocationWatch(bucket.kv, guard, list);
  if (!(await watch.start())) log.warn('the revocation list was not fully read within 10 s; going on, and closing what late entries cover as they arrive');
  log.info({ entries: list.size }, 'revocation list loaded');
  const timer = setInterval(() => guard.run('timer', () => list.prune()), PRUNE_EVERY_MS);
  timer.unref();
  let stopped = false;
  void (async () => {
    for await (const status of nc.status()) {
      if (stopped) return;
      if (status.type !== 'reconnect') continue;
      try {
        await openRevocationBucket(nc, settings);
        await watch.restart();
      } catch (error) {
        log.warn({ err: error }, 'reopening the revocation watch after a reconnect failed');
      }
    }
  })();
  return {
    list,
    stop() {
      stopped = true;
      clearInterval(timer);
      watch.stop();
    },
  };
}
