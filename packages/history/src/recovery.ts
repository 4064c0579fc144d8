import type { HistoryWindow, Position } from '@signal/core';
import type { StoredRead, StoredMessage } from './read-stored.js';
import type { StreamState } from './streams.js';

/** Why a position could not be recovered from (docs/recovery.md). */
export type NotRecoveredReason = 'epoch' | 'window';

export type Recovery =
  | { readonly recovered: true; readonly missed: readonly StoredMessage[] }
  | { readonly recovered: false; readonly reason: NotRecoveredReason };

/** What a recovery is judged against: the subjects read, the window served, and the reader's clock. */
export interface RecoveryScope {
  /** One channel's subject; or a user's and a device's, read together in stream order. */
  readonly subjects: readonly string[];
  /** The namespace's (or direct messages') window: at most its newest `maxMessages` per subject, none older than `maxAgeSeconds`. */
  readonly window: HistoryWindow;
  /** Now, ms since epoch: what `maxAgeSeconds` is judged from. */
  readonly now: number;
}

/**
 * Decides whether the stored messages after `since` are all that was missed on the subjects.
 *
 * `read` is every stored message of the subjects from `since.offset` on, read *before*
 * `state`. Eviction in the stream is oldest first, by count per subject (`maxPerChannel`, the
 * largest window of the environment) and by age (and bytes) over the whole stream, so nothing
 * after `since` was evicted when
 * - by age: the message at `since.offset` is still stored, or the stream still holds something
 *   at or before `since.offset + 1`;
 * - by count, on each subject: the message at `since.offset` is stored on that subject, or the
 *   subject holds fewer messages after it than the stream keeps per subject.
 * Then the window served (a namespace's may be smaller than the stream's) must still cover
 * every missed message: at most `maxMessages` of them per subject, none older than
 * `maxAgeSeconds`. Anything else may hide a gap, so it is "not recovered", never a silent loss.
 */
export function judgeRecovery(since: Position, state: StreamState, read: StoredRead, scope: RecoveryScope): Recovery {
  if (since.epoch !== state.epoch) return { recovered: false, reason: 'epoch' };
  if (since.offset > state.lastSeq) return { recovered: false, reason: 'epoch' };
  // Not all of it was read: some subject has more missed messages than its window.
  if (read.pending > read.messages.length) return { recovered: false, reason: 'window' };
  const first = read.messages[0];
  const sinceStoredOn = first?.seq === since.offset ? first.subject : undefined;
  const missed = read.messages.filter((message) => message.seq > since.offset);
  if (sinceStoredOn === undefined && state.firstSeq > since.offset + 1) return { recovered: false, reason: 'window' };
  const oldest = scope.now - scope.window.maxAgeSeconds * 1000;
  for (const subject of scope.subjects) {
    const count = missed.reduce((n, message) => (message.subject === subject ? n + 1 : n), 0);
    if (subject !== sinceStoredOn && count >= state.maxPerChannel) return { recovered: false, reason: 'window' };
    if (count > scope.window.maxMessages) return { recovered: false, reason: 'window' };
  }
  if (missed.some((message) => message.storedAt < oldest)) return { recovered: false, reason: 'window' };
  return { recovered: true, missed };
}

/**
 * The messages of a subject's window among `read` (all its stored messages after some
 * position, oldest first): none older than `maxAgeSeconds`, and only its newest `maxMessages`.
 */
export function withinWindow(read: StoredRead, window: HistoryWindow, now: number): StoredMessage[] {
  const outside = Math.max(0, read.pending - window.maxMessages);
  const oldest = now - window.maxAgeSeconds * 1000;
  return read.messages.slice(outside).filter((message) => message.storedAt >= oldest);
}
