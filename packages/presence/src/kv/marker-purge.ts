import type { NatsConnection } from '@nats-io/transport-node';
import { JetStreamApiError, type ApiError } from '@nats-io/jetstream';
import { scanStoredFrom } from '../store/read-latest.js';
import { DEFAULT_RETRY_DELAYS, retryTransient, type RetryObserver, type RetryPolicy } from '../faults/transient.js';

const READ_TIMEOUT_MS = 5000;
/** Marker purges kept in flight at once. */
const PURGES_IN_FLIGHT = 64;
/** Messages read per page when looking for markers to purge. */
const PURGE_PAGE = 4096;

interface DueMarker {
  readonly key: string;
  readonly revision: number;
}

/** Where the previous pass stopped, in which stream: a recreated bucket starts its sequences again. */
interface PassEnd {
  readonly created: string;
  readonly next: number;
}

/**
 * Drops a KV bucket's delete markers (and the older records of their keys) once they are older
 * than a cutoff. nats-server 2.9 keeps a deleted key's marker forever, so a bucket written once
 * per connection, channel or identity grows with every one that ever existed, in the server's
 * memory, and every read that walks the bucket gets slower. The presence, online and occupancy
 * buckets all go through here, from the janitor (docs/presence.md#liveness-and-repair).
 *
 * A bucket's messages are in the order stored, so the markers due are among the oldest: they are
 * read oldest first, headers only, a page at a time, up to the first message stored after the
 * cutoff, and each page is purged before the next is read. Memory is one page whatever the churn
 * (listing every key first held each pass's markers at once: 15 MiB at 600 connection cycles/s,
 * bench/memory-soak.mjs).
 *
 * A pass starts where the previous one stopped: a delete is a new message at the stream's end, so
 * every marker before that point was due then and is purged. Reading from the first message
 * every time re-read every live key (each participant, online user, occupied channel) on each
 * pass, and a page costs the server more the larger the stream (a 512-message page: 13 ms in a
 * stream of 20,000, 57 ms in one of 100,000): a pass over 100,000 live keys took 10 s before it
 * reached a marker. Pages of 4,096 and the resumed start: bench/marker-purge.mjs.
 */
export class MarkerPurge {
  private readonly retry: RetryPolicy;
  private lastPass: PassEnd | undefined;

  /** `retryDeadlineMs`: how long each read or purge retries transient JetStream errors. */
  constructor(
    private readonly nc: NatsConnection,
    readonly bucket: string,
    retryDeadlineMs = 0,
    private readonly onRetry?: RetryObserver,
  ) {
    this.retry = { deadlineMs: retryDeadlineMs, ...DEFAULT_RETRY_DELAYS };
  }

  /**
   * Purges every marker stored more than `olderThanMs` ago; returns how many messages went.
   * A pass that fails is not remembered: the next one reads again from where the last
   * complete one stopped.
   */
  async purge(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    const created = await this.retrying(() => this.streamCreated());
    let from = this.lastPass?.created === created ? this.lastPass.next : 1;
    let purged = 0;
    for (;;) {
      const page = await this.retrying(() => this.markersFrom(from, cutoff));
      purged += await this.purgeMarkers(page.due);
      from = page.next;
      if (page.last) break;
    }
    this.lastPass = { created, next: from };
    return purged;
  }

  /** When the bucket's stream was created: a stream deleted and created again restarts its sequences. */
  private async streamCreated(): Promise<string> {
    const reply = await this.nc.request(`$JS.API.STREAM.INFO.KV_${this.bucket}`, undefined, { timeout: READ_TIMEOUT_MS });
    const answer = reply.json<{ created?: string; error?: ApiError }>();
    if (answer.error) throw new JetStreamApiError(answer.error);
    return answer.created ?? '';
  }

  /**
   * One page of the bucket from stream sequence `from`, oldest first: its delete markers stored
   * by `cutoff`, where the next page starts, and whether this is the pass's last page (the end,
   * or a message newer than the cutoff, was reached; `next` is then where the next pass starts).
   * Each page is read by a consumer of its own, gone before its markers are purged (one kept
   * open while the messages it had delivered were purged delivered nothing more, on 2.9.10).
   */
  private async markersFrom(from: number, cutoff: number): Promise<{ due: DueMarker[]; next: number; last: boolean }> {
    const due: DueMarker[] = [];
    let read = 0;
    let next = from;
    let newer = false;
    await scanStoredFrom(this.nc, this.bucket, from, PURGE_PAGE, READ_TIMEOUT_MS, (record) => {
      read++;
      if (newer) return;
      if (record.storedAt > cutoff) {
        newer = true;
        next = record.revision;
        return;
      }
      next = record.revision + 1;
      if (record.deleted) due.push({ key: record.key, revision: record.revision });
    });
    return { due, next, last: newer || read < PURGE_PAGE };
  }

  /**
   * Many purges in flight, not one at a time: one request per round trip purged fewer markers
   * per pass than connection churn leaves (every leave is a marker), so they piled up without
   * bound and every read of a channel, which returns its markers too, got slower (bench/memory-soak.mjs).
   */
  private async purgeMarkers(markers: readonly DueMarker[]): Promise<number> {
    let purged = 0;
    for (let i = 0; i < markers.length; i += PURGES_IN_FLIGHT) {
      const replies = await Promise.all(
        markers.slice(i, i + PURGES_IN_FLIGHT).map((marker) => {
          // Bounded by the marker's sequence: a value written to the key since stays.
          const request = { filter: `$KV.${this.bucket}.${marker.key}`, seq: marker.revision + 1 };
          return this.retrying(async () => {
            const reply = await this.nc.request(`$JS.API.STREAM.PURGE.KV_${this.bucket}`, JSON.stringify(request));
            const answer = reply.json<{ purged?: number; error?: ApiError }>();
            if (answer.error) throw new JetStreamApiError(answer.error);
            return answer.purged ?? 0;
          });
        }),
      );
      for (const count of replies) purged += count;
    }
    return purged;
  }

  private retrying<T>(operation: () => Promise<T>): Promise<T> {
    return retryTransient(operation, this.retry, this.onRetry);
  }
}
