import { onlineKey, type OnlineValue } from '@signal/presence';
import type { Logger } from 'pino';
import type { SessionListener } from '../core/hub.js';
import type { Session } from '../core/session.js';
import { metrics } from '../metrics/gateway-metrics.js';

interface LocalUser {
  readonly identity: string;
  count: number;
  /** Writes not finished; the entry is kept until they are, so the next 0→1 queues behind them. */
  pending: number;
  /** This key's writes, one after the other, so a put and the delete after it land in that order. */
  writes: Promise<void>;
}

const encoder = new TextEncoder();

/** What this module needs of the online bucket (a JetStream KV). */
export interface OnlineBucket {
  put(key: string, value: Uint8Array): Promise<unknown>;
  delete(key: string): Promise<unknown>;
}

/**
 * This node's part of the online bucket (ONLINE_BUCKET, `@signal/presence` online-bucket.ts):
 * it counts open connections per identity and writes the identity's key when the count goes
 * 0→1 and deletes it at 1→0. Whether a user is online anywhere is decided from the bucket, by
 * the webhooks dispatcher, never here. Anonymous (publishable-key) connections have no identity.
 */
export class OnlineUsers implements SessionListener {
  private readonly users = new Map<string, LocalUser>();

  constructor(
    private readonly kv: OnlineBucket,
    private readonly node: string,
    private readonly instance: () => string,
    private readonly log: Logger,
  ) {}

  opened(session: Session): void {
    if (session.anonymous) return;
    const key = onlineKey(session.scope, session.identity, this.node);
    let user = this.users.get(key);
    if (!user) this.users.set(key, (user = { identity: session.identity, count: 0, pending: 0, writes: Promise.resolve() }));
    if (++user.count === 1) this.write(key, user, true);
  }

  closed(session: Session): void {
    if (session.anonymous) return;
    const key = onlineKey(session.scope, session.identity, this.node);
    const user = this.users.get(key);
    if (!user || user.count === 0 || --user.count > 0) return;
    this.write(key, user, false);
  }

  /** After this node was swept (its keys deleted by another node), writes every key it still holds again. */
  async reannounce(): Promise<void> {
    for (const [key, user] of this.users) if (user.count > 0) this.write(key, user, true);
    await Promise.all([...this.users.values()].map((user) => user.writes));
  }

  /** Waits for every write queued so far (at shutdown, the deletes of the connections just closed). */
  async drain(): Promise<void> {
    await Promise.all([...this.users.values()].map((user) => user.writes));
  }

  private write(key: string, user: LocalUser, present: boolean): void {
    const value: OnlineValue = { identity: user.identity, node: this.node, instance: this.instance(), at: Date.now() };
    user.pending++;
    user.writes = user.writes.then(async () => {
      try {
        if (present) await this.kv.put(key, encoder.encode(JSON.stringify(value)));
        else await this.kv.delete(key);
      } catch (error) {
        metrics.onlineWriteFailures.inc();
        this.log.warn({ err: error, online: present }, 'online bucket write failed; webhooks may miss this user_online/user_offline');
      }
      if (--user.pending === 0 && user.count === 0) this.users.delete(key);
    });
  }
}
