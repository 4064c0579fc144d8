import type { Position } from '@signal/core';
import type { StoredMessage } from './read-stored.js';
import type { StreamState } from './streams.js';

/** Why a position could not be recovered from (docs/recovery.md). */
export type NotRecoveredReason = 'epoch' | 'window';

export type Recovery =
  | { readonly recovered: true; readonly missed: readonly StoredMessage[] }
  | { readonly recovered: false; readonly reason: NotRecoveredReason };

/**
 * Decides whether the channel's stored messages after `since` are all it missed.
 *
 * `stored` is every stored message of the channel from `since.offset` on, read *before*
 * `state`. Eviction is oldest first, by count per channel and by age over the whole stream,
 * so nothing after `since` was lost when either
 * - the message at `since.offset` is itself still stored on this channel, or
 * - the stream still holds something at or before `since.offset + 1` (nothing after the
 *   position aged out) and the channel holds fewer messages after it than it may keep (none
 *   was pushed out by count).
 * Anything else may hide a gap, so it is "not recovered", never a silent loss.
 */
export function judgeRecovery(since: Position, state: StreamState, stored: readonly StoredMessage[]): Recovery {
  if (since.epoch !== state.epoch) return { recovered: false, reason: 'epoch' };
  if (since.offset > state.lastSeq) return { recovered: false, reason: 'epoch' };
  const missed = stored.filter((message) => message.seq > since.offset);
  if (stored[0]?.seq === since.offset) return { recovered: true, missed };
  const nothingAgedOut = state.firstSeq <= since.offset + 1;
  if (nothingAgedOut && missed.length < state.maxPerChannel) return { recovered: true, missed };
  return { recovered: false, reason: 'window' };
}
