import { RATE_LIMIT_WINDOW_MS, type GatewayLimits, type Rate } from './limit-vars.js';
import { refuse } from './refusal.js';
import { TokenBucket } from './token-bucket.js';

/** What a connection's rates apply to: requests (presence state updates are publishes), and every frame. */
export type RequestKind = 'join' | 'publish' | 'send' | 'frame';

const RATE_VARIABLES: Record<RequestKind, [rate: string, burst: string]> = {
  join: ['JOIN_RATE', 'JOIN_BURST'],
  publish: ['PUBLISH_RATE', 'PUBLISH_BURST'],
  send: ['SEND_RATE', 'SEND_BURST'],
  frame: ['FRAME_RATE', 'FRAME_BURST'],
};

const WHAT: Record<RequestKind, string> = { join: 'join requests', publish: 'publish requests', send: 'send requests', frame: 'frames' };

/**
 * What one connection may ask for: how many channels it holds, and how fast it joins,
 * publishes and sends. Surfaces ask before acting and translate the refusal.
 */
export class RequestLimits {
  constructor(private readonly limits: GatewayLimits) {}

  /** A new connection's rate allowance. */
  quota(now = performance.now()): RequestQuota {
    return new RequestQuota(this.limits, now);
  }

  /**
   * Before a join. `channels`: the channels the connection holds, presence channels included;
   * `adds`: whether this join would add one; `presenceChannels`: how many it holds with presence,
   * given only when this join would add a presence channel.
   */
  checkJoin(channels: number, adds: boolean, presenceChannels?: number): void {
    const { maxChannels, maxPresenceChannels } = this.limits;
    if (presenceChannels !== undefined && presenceChannels >= maxPresenceChannels) {
      throw refuse('limit_exceeded', 'MAX_PRESENCE_CHANNELS_PER_CONNECTION', `this connection is in ${maxPresenceChannels} presence channels, the most allowed (MAX_PRESENCE_CHANNELS_PER_CONNECTION); leave one first`, 'id');
    }
    if (adds && channels >= maxChannels) {
      throw refuse('limit_exceeded', 'MAX_CHANNELS_PER_CONNECTION', `this connection is in ${maxChannels} channels, the most allowed (MAX_CHANNELS_PER_CONNECTION); leave one first`, 'id');
    }
  }

  /** Before a join that would add an occupancy subscription; `subscribed`: how many the connection has. */
  checkOccupancy(subscribed: number): void {
    const { maxOccupancyChannels } = this.limits;
    if (subscribed >= maxOccupancyChannels) {
      throw refuse('limit_exceeded', 'MAX_OCCUPANCY_CHANNELS_PER_CONNECTION', `this connection follows the occupancy of ${maxOccupancyChannels} channels, the most allowed (MAX_OCCUPANCY_CHANNELS_PER_CONNECTION); leave one first`, 'occupancy');
    }
  }

  /** For surfaces that join a list at once (the Stelace handshake). */
  checkChannelList(count: number): void {
    const { maxChannels } = this.limits;
    if (count > maxChannels) {
      throw refuse('limit_exceeded', 'MAX_CHANNELS_PER_CONNECTION', `${count} channels asked for, over the ${maxChannels}-channel limit per connection (MAX_CHANNELS_PER_CONNECTION)`, 'channels');
    }
  }
}

/** One connection's token buckets and its count of recent refusals. */
export class RequestQuota {
  private readonly buckets: Record<RequestKind, TokenBucket>;
  private windowStart: number;
  private refusals = 0;

  constructor(
    private readonly limits: GatewayLimits,
    now: number,
  ) {
    const bucket = (rate: Rate) => new TokenBucket(rate.perSecond, rate.burst, now);
    this.buckets = { join: bucket(limits.join), publish: bucket(limits.publish), send: bucket(limits.send), frame: bucket(limits.frame) };
    this.windowStart = now;
  }

  /** Throws rate_limited when the connection is over its rate for this kind of request. */
  take(kind: RequestKind, now = performance.now()): void {
    if (this.buckets[kind].take(now)) return;
    if (now - this.windowStart >= RATE_LIMIT_WINDOW_MS) {
      this.windowStart = now;
      this.refusals = 0;
    }
    this.refusals++;
    const [rate, burst] = RATE_VARIABLES[kind];
    const { perSecond, burst: most } = this.limits[kind];
    throw refuse('rate_limited', rate, `too many ${WHAT[kind]}: at most ${perSecond} per second (${rate}) after a burst of ${most} (${burst}); slow down`);
  }

  /**
   * True once the connection was refused RATE_LIMIT_CLOSE_AFTER times within one window:
   * it ignores `rate_limited` and should be closed (4029).
   */
  get flooding(): boolean {
    return this.refusals >= this.limits.closeAfter;
  }
}
