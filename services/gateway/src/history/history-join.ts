import { SignalError, type Position } from '@signal/core';
import type { HistoryStore } from '@signal/history';
import type { Hub } from '../core/hub.js';
import type { Session } from '../core/session.js';
import { metrics } from '../metrics/gateway-metrics.js';

/** What a join of a channel that keeps history answers, on top of the usual result. */
export interface HistoryJoinResult {
  /** Where the client stands now: keep it (or a later message's) to recover from. Absent while the history is unreachable. */
  readonly position?: Position;
  /** Only when the join asked to recover (`since`): whether every missed message was delivered before this answer. */
  readonly recovered?: boolean;
  /**
   * Why not: `window` (the history no longer covers the position), `epoch` (the history was
   * lost), `busy` (too much came meanwhile), `unavailable` (the history could not be read).
   */
  readonly reason?: 'window' | 'epoch' | 'busy' | 'unavailable';
}

/**
 * Joins a channel that keeps history (docs/recovery.md). Without `since` it is a plain join
 * whose answer carries the position. With `since`, the live subscription comes first, held
 * back; then the history after `since` is read; then the missed messages are delivered, the
 * held ones after them without duplicates, and live ones from then on. History that cannot
 * be reached never fails the join: it goes live and says it did not recover.
 */
export async function joinWithHistory(hub: Hub, history: HistoryStore, session: Session, channel: string, since: Position | undefined): Promise<HistoryJoinResult> {
  if (since === undefined || session.channels.has(channel)) {
    if (hub.join(session, channel)) await hub.subscriptionsInEffect();
    const position = await history.position(session.scope).catch(unreachable);
    // Joined already on this connection: it missed nothing on it.
    const outcome = since === undefined ? {} : { recovered: true };
    return position === undefined ? outcome : { position, ...outcome };
  }
  hub.joinHeld(session, channel);
  try {
    await hub.subscriptionsInEffect();
    const read = await history.recover(session.scope, channel, since).catch(unreachable);
    const complete = hub.releaseHeld(session, channel, read?.missed ?? []);
    if (!read) {
      metrics.recoveries.inc({ kind: 'channel', result: 'unavailable' });
      return { recovered: false, reason: 'unavailable' };
    }
    const { recovery, missed, state } = read;
    metrics.recoveries.inc({ kind: 'channel', result: !recovery.recovered ? recovery.reason : complete ? 'recovered' : 'busy' });
    if (recovery.recovered) metrics.recoveredMessages.inc(missed.length);
    const position: Position = { epoch: state.epoch, offset: state.lastSeq };
    if (!recovery.recovered) return { position, recovered: false, reason: recovery.reason };
    return complete ? { position, recovered: true } : { position, recovered: false, reason: 'busy' };
  } catch (error) {
    hub.leave(session, channel);
    throw SignalError.from(error);
  }
}

/** History that cannot be reached right now (`unavailable`) is left out; anything else still fails the join. */
function unreachable(error: unknown): undefined {
  if (error instanceof SignalError && error.code === 'unavailable') return undefined;
  throw error;
}
