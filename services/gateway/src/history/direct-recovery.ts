import { SignalError, type Position } from '@signal/core';
import type { HistoryStore } from '@signal/history';
import type { Hub } from '../core/hub.js';
import type { Session } from '../core/session.js';
import { metrics } from '../metrics/gateway-metrics.js';

/** How a connection's direct messages stand: `signal.connected`'s `direct` (docs/protocol.md). */
export interface DirectHistoryResult {
  /** Where its direct messages stand now: keep it (or a later direct message's) to connect with as `since`. Absent while the history is unreachable. */
  readonly position?: Position;
  /** Only when it connected with `since`: whether every direct message it missed was delivered before `signal.connected`. */
  readonly recovered?: boolean;
  readonly reason?: 'window' | 'epoch' | 'busy' | 'unavailable';
}

const EPOCH_CHARS = /^[\x21-\x7e]{1,64}$/;

/**
 * The connect URL's `since=<offset>:<epoch>`: a position of the connection's own direct
 * messages, as a message or `signal.connected` gave it. Absent: nothing to recover.
 */
export function parseConnectSince(value: string | null): Position | undefined {
  if (value === null) return undefined;
  const colon = value.indexOf(':');
  const offset = colon > 0 ? value.slice(0, colon) : '';
  const epoch = value.slice(colon + 1);
  if (!/^\d{1,16}$/.test(offset) || !Number.isSafeInteger(Number(offset)) || !EPOCH_CHARS.test(epoch)) {
    throw new SignalError('bad_request', "since must be '<offset>:<epoch>' from a direct message's or signal.connected's position (offset 0 to 2^53-1, epoch 1 to 64 printable characters)", {
      field: 'since',
    });
  }
  return { offset: Number(offset), epoch };
}

/**
 * A connection's direct messages where its environment keeps them (docs/recovery.md), once
 * its subscriptions are in effect. Without `since`: where they stand, for the client to keep.
 * With `since` (the hub held its user and device traffic back since `open`): the ones it
 * missed, in stream order, then the held ones without duplicates, then `connected` (built
 * from the outcome), then live ones: one step, so nothing falls between. History that cannot
 * be read never fails the connection: it goes live and says so (`unavailable`).
 */
export async function openDirectHistory(
  hub: Hub,
  history: HistoryStore,
  session: Session,
  since: Position | undefined,
  connected: (direct: DirectHistoryResult) => string,
): Promise<void> {
  if (since === undefined) {
    // Unreachable history (or a reload that just took it away) leaves the position out.
    const position = await history.position(session.scope).catch(() => undefined);
    if (session.ws) session.ws.send(connected(position === undefined ? {} : { position }));
    return;
  }
  // Whatever fails here, the held messages are released and the connection goes live.
  const read = await history.recoverDirect(session.scope, { identity: session.identity, device: session.device }, since).catch(() => undefined);
  if (!read) {
    metrics.recoveries.inc({ kind: 'direct', result: 'unavailable' });
    hub.releaseHeldDirect(session, [], () => [connected({ recovered: false, reason: 'unavailable' })]);
    return;
  }
  const { recovery, missed, state } = read;
  const position: Position = { epoch: state.epoch, offset: state.lastSeq };
  let result: DirectHistoryResult = recovery.recovered ? { position, recovered: true } : { position, recovered: false, reason: recovery.reason };
  hub.releaseHeldDirect(session, missed, (complete) => {
    if (!complete && result.recovered) result = { position, recovered: false, reason: 'busy' };
    return [connected(result)];
  });
  metrics.recoveries.inc({ kind: 'direct', result: result.recovered ? 'recovered' : result.reason! });
  if (recovery.recovered) metrics.recoveredMessages.inc(missed.length);
}
