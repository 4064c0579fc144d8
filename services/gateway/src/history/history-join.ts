import { SignalError, type Position } from '@signal/core';
import type { Hub } from '../core/hub.js';
import type { Session } from '../core/session.js';
import { metrics } from '../metrics/gateway-metrics.js';
import type { HistoryStore } from '@signal/history';

/** What a join of a channel that keeps history answers, on top of the usual result. */
export interface HistoryJoinResult {
  /** Where the client stands now: keep it (or a later message's) to recover from. */
  readonly position: Position;
  /** Only when the join asked to recover (`since`): whether every missed message was delivered before this answer. */
  readonly recovered?: boolean;
  /** Why not: `window` (the history no longer covers the position), `epoch` (the history was lost), `busy` (too much came meanwhile). */
  readonly reason?: 'window' | 'epoch' | 'busy';
}

/**
 * Joins a channel that keeps history (docs/recovery.md). Without `since` it is a plain join
 * whose answer carries the position. With `since`, the live subscription comes first, held
 * back; then the history after `since` is read; then the missed messages are delivered, the
 * held ones after them without duplicates, and live ones from then on.
 */
export async function joinWithHistory(hub: Hub, history: HistoryStore, session: Session, channel: string, since: Position | undefined): Promise<HistoryJoinResult> {
  await history.ensure(session.scope);
  if (since === undefined || session.channels.has(channel)) {
    if (hub.join(session, channel)) await hub.subscriptionsInEffect();
    const position = await history.position(session.scope);
    // Joined already on this connection: it missed nothing on it.
    return since === undefined ? { position } : { position, recovered: true };
  }
  hub.joinHeld(session, channel);
  try {
    await hub.subscriptionsInEffect();
    const { recovery, missed, state } = await history.recover(session.scope, channel, since);
    const complete = hub.releaseHeld(session, channel, missed);
    metrics.recoveries.inc({ result: !recovery.recovered ? recovery.reason : complete ? 'recovered' : 'busy' });
    if (recovery.recovered) metrics.recoveredMessages.inc(missed.length);
    const position: Position = { epoch: state.epoch, offset: state.lastSeq };
    if (!recovery.recovered) return { position, recovered: false, reason: recovery.reason };
    return complete ? { position, recovered: true } : { position, recovered: false, reason: 'busy' };
  } catch (error) {
    hub.leave(session, channel);
    throw SignalError.from(error);
  }
}
