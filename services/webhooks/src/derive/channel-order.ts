import type { WebhookEvent } from '../events/webhook-event.js';
import { metrics } from '../metrics/webhooks-metrics.js';
import type { EventProducer } from './producer.js';

/**
 * Puts each channel_vacated after the member_removed events of its channel's last members. The
 * two come from different buckets, each with its own log, and a gateway may write the occupancy
 * delete before the presence delete (a leave releases the subscription first), so in the logs'
 * own order the vacated can come first. A channel_vacated at time T is therefore held, in its
 * partition, until this process's presence derivation of the channel's shard (PRESENCE_SHARDS:
 * a channel's members are all in one shard's log) has read its log up to T and holds no
 * member of the channel added by then, and the events that removed them are stored: then it
 * follows them in the events stream. Every dispatcher holds its copy the same way, and the
 * first stored copy of each event wins, so the stream keeps that order across dispatchers.
 * The hold is bounded by WEBHOOK_ORDER_WAIT_MS: a participant entry that outlives its
 * connection (a gateway's write failed; the janitor removes it later) does not block the channel.
 */
export class ChannelOrder {
  constructor(
    /** The presence producer of the channel's shard; undefined while it has not started. */
    private readonly presenceOf: (app: string, env: string, channel: string) => EventProducer | undefined,
    private readonly waitMs: number,
  ) {
    // Both series exist from the start, so a panel or an alert on `expired` has one to read.
    for (const result of ['released', 'expired']) metrics.vacatedHolds.inc({ result }, 0);
  }

  readonly before = async (event: WebhookEvent, subject: string): Promise<void> => {
    if (event.type !== 'channel_vacated' || this.waitMs === 0) return;
    const presence = this.presenceOf(event.app, event.env, event.channel);
    if (!presence) return;
    const held = () => !presence.appliedThrough(event.time) || presence.hasMemberSince(event.app, event.env, event.channel, event.time);
    if (held()) {
      // Looked at again after each presence record applied: its members' removals come that way.
      const result = await new Promise<'released' | 'expired'>((resolve) => {
        const timer = setTimeout(() => {
          stop();
          resolve('expired');
        }, this.waitMs);
        const stop = presence.onApplied(() => {
          if (held()) return;
          clearTimeout(timer);
          stop();
          resolve('released');
        });
      });
      metrics.vacatedHolds.inc({ result });
      if (result === 'expired') return;
    }
    await presence.stored(subject);
  };
}
