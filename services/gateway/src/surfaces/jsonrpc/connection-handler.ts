import { SignalError, TokenError, jsonTextTooDeep, jsonTooDeepError, parseAddress, verifyChannelToken, type Apps, type Position, type TokenRules } from '@signal/core';
import type { Logger } from 'pino';
import { authenticateConnection } from '../../auth/authenticate-connection.js';
import { withChannelGrantsOf, withChannelToken, withoutChannelGrant } from '../../auth/permissions.js';
import type { RevocationList } from '../../auth/revocation-list.js';
import type { SessionExpiry } from '../../auth/session-expiry.js';
import type { Hub } from '../../core/hub.js';
import type { HistoryStore } from '@signal/history';
import { joinWithHistory } from '../../history/history-join.js';
import { openDirectHistory } from '../../history/direct-recovery.js';
import type { Session } from '../../core/session.js';
import { assertTokenCurrent } from '../../core/token-expiry.js';
import type { RequestLimits } from '../../limits/request-limits.js';
import { metrics } from '../../metrics/gateway-metrics.js';
import type { OccupancyFeeds } from '../../occupancy/occupancy-feeds.js';
import type { PresenceService } from '../../presence/presence-service.js';
import type { ParticipantView } from '@signal/presence';
import { CLOSE_RATE_LIMITED } from '../../server/close-codes.js';
import { rpcError, rpcResult } from './errors.js';
import { idOfRefusedFrame, parseCall, readEnvelope, type ClientCall, type RpcId } from './frames.js';
import { notification, renderJoinResult, renderWelcome } from './render.js';

/**
 * `native` is our own protocol; `bit6` is the same frames for Bit6 SDK apps, minus anything
 * the SDK would not understand (it answers unknown server frames with errors).
 */
export type Dialect = 'native' | 'bit6';

export interface RpcHandlerOptions {
  maxFrameBytes: number;
  /** Deepest nesting a frame may have (MAX_JSON_DEPTH), checked before anything walks it. */
  maxJsonDepth: number;
  dialect: Dialect;
  log: Logger;
  registry: Apps;
  /** A refreshed token must not be a revoked one. */
  revocations: RevocationList;
  /** Lifetime cap every token is checked against (MAX_TOKEN_TTL_SECONDS). */
  tokenRules: TokenRules;
  requests: RequestLimits;
  /** Set when connections of this dialect end as their token expires (TOKEN_EXPIRY=close, native only). */
  expiry: SessionExpiry | undefined;
  /** Occupancy subscriptions (`signal.join {occupancy: true}`). */
  occupancy: OccupancyFeeds;
  /** Channels that keep history: their joins answer with a position and recover from one (docs/recovery.md). */
  history: HistoryStore;
}

/** Errors a Bit6 client is told about even for a notification (see handle()). */
const TOLD_TO_BIT6: ReadonlySet<string> = new Set(['bad_request', 'limit_exceeded', 'rate_limited', 'unauthorized', 'forbidden']);

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Translates JSON-RPC frames into hub calls; holds no state of its own. */
export class RpcConnectionHandler {
  constructor(
    private readonly hub: Hub,
    private readonly presence: PresenceService,
    private readonly options: RpcHandlerOptions,
  ) {}

  /**
   * `holding`: the hub holds the connection's direct messages back (`open`) because it came
   * with `since` to recover them from (history/direct-recovery.ts).
   */
  onOpen(session: Session, holding: Position | undefined): void {
    this.options.expiry?.watch(session);
    if (this.options.dialect !== 'native') return;
    const { history } = this.options;
    const connected = { address: session.address, anonymous: session.anonymous };
    // `signal.connected` promises reachability: a signal emitted after it must arrive, so it
    // waits until NATS has the connection's user and device subscriptions (one round trip).
    void this.hub.subscriptionsInEffect().then(() => {
      if (holding === undefined && (session.anonymous || !history.keepsDirect(session.scope))) {
        if (session.ws) reply(session, notification('signal.connected', connected));
        return;
      }
      return openDirectHistory(this.hub, history, session, holding, (direct) => notification('signal.connected', { ...connected, direct }));
    }).catch((error: unknown) => this.options.log.error({ err: error, route: session.route }, 'opening a connection failed'));
  }

  /** Whether a connection that came with `since` has its direct messages held back for a recovery (`onOpen`). */
  recoversDirect(session: Session, since: Position | undefined): boolean {
    return since !== undefined && this.options.dialect === 'native' && !session.anonymous && this.options.history.keepsDirect(session.scope);
  }

  onClose(session: Session): void {
    this.options.expiry?.forget(session);
    this.options.occupancy.closed(session);
  }

  onMessage(session: Session, data: ArrayBuffer, isBinary: boolean): void {
    // Every frame costs work, even one that is refused below: the frame rate bounds it.
    try {
      session.quota.take('frame');
    } catch (caught) {
      reply(session, rpcError(null, SignalError.from(caught)));
      if (session.quota.flooding) this.closeFlooding(session);
      return;
    }
    if (isBinary) return reply(session, rpcError(null, new SignalError('bad_request', 'send JSON-RPC as text frames, not binary')));
    let text: string;
    try {
      text = decoder.decode(data);
    } catch {
      return reply(session, rpcError(null, new SignalError('invalid_json', 'frame is not valid UTF-8')));
    }
    if (data.byteLength > this.options.maxFrameBytes) {
      const error = new SignalError(
        'payload_too_large',
        `frame of ${data.byteLength} bytes is over the ${this.options.maxFrameBytes}-byte limit; send smaller messages`,
      );
      return reply(session, rpcError(idOfRefusedFrame(text), error));
    }
    if (text === '_ping') return reply(session, '_pong');
    if (jsonTextTooDeep(text, this.options.maxJsonDepth)) {
      metrics.limitRefusals.inc({ limit: 'max_json_depth' });
      return reply(session, rpcError(idOfRefusedFrame(text), jsonTooDeepError('frame', this.options.maxJsonDepth)));
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      return reply(session, rpcError(null, new SignalError('invalid_json', `frame is not valid JSON: ${(error as Error).message}`)));
    }
    void this.handle(session, value);
  }

  private async handle(session: Session, value: unknown): Promise<void> {
    let id: RpcId | undefined;
    try {
      const envelope = readEnvelope(value);
      id = envelope.id;
      const call = parseCall(envelope.method, envelope.params);
      // Before the first await: limits are applied in the order the frames came.
      this.checkLimits(session, call);
      const result = await this.execute(session, call, id !== undefined);
      if (id !== undefined) reply(session, call.method === 'signal.join' && isListing(result) ? renderJoinResult(id, result) : rpcResult(id, result));
    } catch (caught) {
      const error = SignalError.from(caught);
      if (error.code === 'internal') this.options.log.error({ err: caught, route: session.route }, 'request failed');
      // JSON-RPC answers notifications with nothing; our own clients get told what went wrong anyway.
      // A Bit6 client is told about a refused join, a rate refusal, an expired token or a missing
      // permission too: the SDK ignores an error with `id: null`, but it shows in the app's network
      // log instead of the request vanishing without a trace.
      if (id !== undefined || this.options.dialect === 'native' || TOLD_TO_BIT6.has(error.code)) {
        reply(session, rpcError(id ?? (caught as { rpcId?: RpcId }).rpcId, error));
      }
      if (error.code === 'rate_limited' && session.quota.flooding) this.closeFlooding(session);
    }
  }

  /** Per-connection rates and channel counts (docs/limits.md); throws the refusal. */
  private checkLimits(session: Session, call: ClientCall): void {
    switch (call.method) {
      case 'signal.join': {
        session.quota.take('join');
        const participating = this.presence.channelsOf(session);
        // Joins still on their way (presence, occupancy) count as held: limits hold for pipelined frames.
        const following = this.options.occupancy.channelsOf(session);
        const pending = (channel: string) => session.channels.has(channel) || participating.has(channel) || following.has(channel);
        let held = session.channels.size;
        for (const channel of participating.keys()) if (!session.channels.has(channel)) held++;
        for (const channel of following) if (!session.channels.has(channel) && !participating.has(channel)) held++;
        const addsPresence = call.presence && !participating.has(call.channel);
        this.options.requests.checkJoin(held, !pending(call.channel), addsPresence ? participating.size : undefined);
        if (call.occupancy && !following.has(call.channel)) this.options.requests.checkOccupancy(following.size);
        return;
      }
      case 'signal.publish':
        return session.quota.take('publish');
      case 'signal.send':
        return session.quota.take('send');
      case 'signal.leave':
      case 'signal.auth':
        return;
    }
  }

  /** A connection that goes on sending after RATE_LIMIT_CLOSE_AFTER refusals is not listening: 4029. */
  private closeFlooding(session: Session): void {
    const ws = session.ws;
    if (!ws) return;
    metrics.limitRefusals.inc({ limit: 'rate_limit_close_after' });
    this.options.log.info({ route: session.route, ip: session.ip }, 'connection closed for exceeding its rates');
    session.ws = undefined;
    ws.end(CLOSE_RATE_LIMITED.code, CLOSE_RATE_LIMITED.reason);
  }

  private async execute(session: Session, call: ClientCall, confirm: boolean): Promise<unknown> {
    // Leaving gives up something and signal.auth is the way back; everything else starts something.
    if (call.method !== 'signal.leave' && call.method !== 'signal.auth') assertTokenCurrent(session);
    switch (call.method) {
      case 'signal.join': {
        if (call.token !== undefined) this.acceptChannelToken(session, call.channel, call.token);
        if (!call.occupancy) return this.join(session, call);
        const { occupancy } = this.options;
        const subscribed = occupancy.channelsOf(session).has(call.channel);
        // The feed is read before joining, so a join never stands while its occupancy could not be read.
        await occupancy.open(session, call.channel);
        // Closed meanwhile: joining now would hold the channel (and its count) for a connection that is gone.
        if (!session.ws) throw new SignalError('unavailable', 'the connection closed while joining');
        let result: Record<string, unknown>;
        try {
          result = await this.join(session, call);
        } catch (error) {
          if (!subscribed) occupancy.unsubscribe(session, call.channel);
          throw error;
        }
        return { ...result, occupancy: occupancy.listen(session, call.channel) };
      }
      case 'signal.leave':
        this.options.occupancy.unsubscribe(session, call.channel);
        await this.presence.leave(session, call.channel);
        session.permissions = withoutChannelGrant(session.permissions, call.channel);
        return { id: call.channel };
      case 'signal.publish':
        await this.presence.publish(session, call.channel, call.fields);
        return {};
      case 'signal.send':
        await this.hub.send(session, parseAddress(call.to), call.fields, call.channel, confirm);
        return {};
      case 'signal.auth':
        return this.refresh(session, call.token);
    }
  }

  /** Joins a channel, as a participant with `presence: true`. */
  private async join(session: Session, call: Extract<ClientCall, { method: 'signal.join' }>): Promise<Record<string, unknown>> {
    const history = this.options.history.keeps(session.scope, call.channel) ? this.options.history : undefined;
    if (!call.presence) {
      if (call.options.state !== undefined) {
        throw new SignalError('invalid_params', 'state is only kept for participants: join with presence: true', { field: 'state' });
      }
      if (history) return { id: call.channel, ...(await joinWithHistory(this.hub, history, session, call.channel, call.since)) };
      if (this.hub.join(session, call.channel)) await this.hub.subscriptionsInEffect();
      return { id: call.channel };
    }
    const joinedBefore = session.channels.has(call.channel);
    const kept = history ? await joinWithHistory(this.hub, history, session, call.channel, call.since) : undefined;
    try {
      // `joinBack: false`: the result alone carries the list (docs/protocol.md), no frame per participant.
      const participants = await this.presence.join(session, call.channel, call.options.state, (list) => {
        if (call.joinBack) replyAll(session, renderWelcome(call.channel, list));
      });
      return { id: call.channel, participants, ...kept };
    } catch (error) {
      // The history join subscribed it; a refused presence join leaves nothing behind.
      if (kept && !joinedBefore) this.hub.leave(session, call.channel);
      throw error;
    }
  }


  /** A channel token passed with a join: its grant counts from this join on (auth/permissions.ts decides what it allows). */
  private acceptChannelToken(session: Session, channel: string, token: string): void {
    let verified;
    try {
      verified = verifyChannelToken(this.options.registry, token, this.options.tokenRules);
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      throw new SignalError('unauthorized', `channel token refused: ${error.message}`, { field: 'token', data: { channel, reason: error.reason } });
    }
    session.permissions = withChannelToken(session.permissions, session, channel, verified);
  }

  /** A fresh token for the same user and device: the connection lives on until it expires. */
  private refresh(session: Session, token: string): { expiresAt: number } {
    if (session.anonymous) throw new SignalError('forbidden', 'an anonymous connection has no token to refresh; connect with a user token');
    const user = authenticateConnection(this.options.registry, this.options.revocations, { token }, this.options.tokenRules);
    const { scope } = user;
    const same = scope.app === session.scope.app && scope.env === session.scope.env && user.identity === session.identity && user.device === session.device;
    if (!same) {
      throw new SignalError('forbidden', `the new token is for another user, device or environment; this connection is ${session.identity}/${session.device}`, {
        field: 'token',
      });
    }
    session.expiresAt = user.expiresAt;
    this.hub.retoken(session, user.token);
    // From now on the connection stands on the new token's secret, not the old one's.
    session.credential = user.credential;
    // The new token's capability applies to what the connection starts from now on.
    session.permissions = withChannelGrantsOf(user.permissions, session.permissions);
    this.options.expiry?.watch(session);
    return { expiresAt: user.expiresAt! };
  }
}

/** A presence join's result: `{id, participants, ...}`. */
function isListing(result: unknown): result is { id: string; participants: readonly ParticipantView[] } & Record<string, unknown> {
  const r = result as { id?: unknown; participants?: unknown } | undefined;
  return typeof r?.id === 'string' && Array.isArray(r.participants);
}

function reply(session: Session, frame: string): void {
  const ws = session.ws;
  if (ws) ws.cork(() => ws.send(frame));
}

function replyAll(session: Session, frames: readonly string[]): void {
  const ws = session.ws;
  if (ws && frames.length > 0) {
    ws.cork(() => {
      for (const frame of frames) ws.send(frame);
    });
  }
}
