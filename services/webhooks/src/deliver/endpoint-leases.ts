import { createHash, randomUUID } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { isWrongLastSequence } from '@signal/presence';
import type { Logger } from 'pino';
import { metrics } from '../metrics/webhooks-metrics.js';

/** Member keys: `d.<dispatcher id>`; lease keys: `e.<endpoint key>`. */
const MEMBER_PREFIX = 'd.';
const LEASE_PREFIX = 'e.';

export interface LeaseHolder {
  /** This dispatcher now owns the endpoint: start delivering it. */
  acquired(key: string): void;
  /**
   * The endpoint is no longer this dispatcher's: stop delivering it. `released` is a handover
   * (resolve once nothing of it is in flight; the lease is given up after); otherwise the lease
   * was lost (expired or taken) and another dispatcher may already deliver it.
   */
  lost(key: string, released: boolean): Promise<void>;
}

export interface EndpointLeasesOptions {
  kv: KV;
  /** WEBHOOK_LEASE_MS: how long a lease or a membership lasts without renewal (the bucket's max age). */
  leaseMs: number;
  holder: LeaseHolder;
  log: Logger;
}

interface Owned {
  revision: number;
  /** performance.now() of the last successful write of the lease. */
  renewedAt: number;
  /** The lease's writes, one after the other (a renewal must not race the deletion that ends a handover). */
  writing: Promise<void>;
  /** Set while a handover drains the endpoint's deliveries; the lease is deleted after. */
  releasing?: Promise<void>;
  /** Released or lost: nothing more is written. */
  gone: boolean;
}

/**
 * Decides which dispatcher delivers each endpoint: exactly one at a time, so that one process
 * can keep many events of a partition in flight in one request and the order still holds
 * (JetStream 2.9 cannot pin a durable consumer to one client). Leases live in a KV bucket whose
 * max age is WEBHOOK_LEASE_MS: the owner rewrites its lease (compare-and-set on its revision)
 * every quarter of that, and a dispatcher that dies or stalls loses it when it ages out.
 * Every dispatcher also keeps a membership key alive; each endpoint belongs to the live member
 * with the highest rendezvous hash of (member, endpoint), so endpoints spread over the dispatchers
 * and move as few as possible when one comes or goes: the owner hands an endpoint over (drains
 * it, then deletes the lease) once a better-placed member is alive, and only the preferred member
 * claims a free lease (a create, which fails while anyone holds it).
 */
export class EndpointLeases {
  readonly self = randomUUID().replaceAll('-', '');
  private readonly owned = new Map<string, Owned>();
  private wanted = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: EndpointLeasesOptions) {
    // Every series exists from the start, so a panel or an alert on `lost` has one to read.
    for (const change of ['acquired', 'released', 'lost']) metrics.leaseChanges.inc({ change }, 0);
  }

  /** The endpoints the apps file names now (`<app>.<env>.<id>`); applied at the next tick, which this starts. */
  want(keys: Iterable<string>): Promise<void> {
    this.wanted = new Set(keys);
    return this.tick();
  }

  start(): void {
    const every = this.options.leaseMs / 4;
    this.timer = setInterval(() => void this.tick(), every);
    this.timer.unref();
  }

  /** Whether this dispatcher surely owns the endpoint now: its lease was renewed within three quarters of its life. */
  holds(key: string): boolean {
    const owned = this.owned.get(key);
    return owned !== undefined && owned.releasing === undefined && performance.now() - owned.renewedAt < (this.options.leaseMs * 3) / 4;
  }

  /** Hands every endpoint over (drained first) and leaves the membership, so others take over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.ticking;
    await Promise.all([...this.owned.keys()].map((key) => this.release(key)));
    await this.options.kv.delete(MEMBER_PREFIX + this.self).catch(() => undefined);
  }

  /** Ticks run one after the other; a failed one is logged and the next tries again. */
  private tick(): Promise<void> {
    this.ticking = this.ticking
      .then(() => (this.stopped ? undefined : this.round()))
      .catch((error: unknown) => this.options.log.warn({ err: error }, 'webhook endpoint leases: a round failed; trying again'));
    return this.ticking;
  }

  private async round(): Promise<void> {
    const { kv } = this.options;
    await kv.put(MEMBER_PREFIX + this.self, '');
    const members = new Set<string>([this.self]);
    for await (const key of await kv.keys(`${MEMBER_PREFIX}*`)) members.add(key.slice(MEMBER_PREFIX.length));
    // Renewals first: a lease found lost (this process stalled) is not handed over as if it were still ours.
    await Promise.all([...this.owned].map(([key, owned]) => this.renew(key, owned)));
    for (const key of this.owned.keys()) {
      if (!this.wanted.has(key) || preferredOwner(key, members) !== this.self) void this.release(key);
    }
    await Promise.all([...this.wanted].filter((key) => !this.owned.has(key) && preferredOwner(key, members) === this.self).map((key) => this.claim(key)));
  }

  private async claim(key: string): Promise<void> {
    try {
      const revision = await this.options.kv.create(LEASE_PREFIX + key, this.self);
      this.owned.set(key, { revision, renewedAt: performance.now(), writing: Promise.resolve(), gone: false });
      metrics.endpointsOwned.set(this.owned.size);
    } catch (error) {
      // Held by another dispatcher (handing it over, or dead and not yet expired): next round.
      if (isWrongLastSequence(error)) return;
      throw error;
    }
    metrics.leaseChanges.inc({ change: 'acquired' });
    this.options.log.info({ endpoint: key }, 'webhook endpoint: this dispatcher delivers it now');
    this.options.holder.acquired(key);
  }

  private async renew(key: string, owned: Owned): Promise<void> {
    const write = owned.writing.then(async () => {
      if (owned.gone) return;
      const at = performance.now();
      try {
        owned.revision = await this.options.kv.update(LEASE_PREFIX + key, this.self, owned.revision);
        owned.renewedAt = at;
      } catch (error) {
        if (!isWrongLastSequence(error)) throw error;
        // Expired while this process stalled, and maybe taken: whatever is in flight is someone else's now.
        owned.gone = true;
        this.owned.delete(key);
        metrics.endpointsOwned.set(this.owned.size);
        metrics.leaseChanges.inc({ change: 'lost' });
        this.options.log.warn({ endpoint: key }, 'webhook endpoint lease lost (not renewed within WEBHOOK_LEASE_MS); another dispatcher delivers it');
        await this.options.holder.lost(key, false);
      }
    });
    owned.writing = write.catch(() => undefined);
    await write;
  }

  /** Drains the endpoint (renewing meanwhile), then deletes the lease, so the preferred member claims it at once. */
  private release(key: string): Promise<void> {
    const owned = this.owned.get(key);
    if (!owned) return Promise.resolve();
    owned.releasing ??= (async () => {
      await this.options.holder.lost(key, true);
      await owned.writing;
      if (owned.gone) return;
      owned.gone = true;
      this.owned.delete(key);
      metrics.endpointsOwned.set(this.owned.size);
      await this.options.kv.delete(LEASE_PREFIX + key, { previousSeq: owned.revision }).catch(() => undefined);
      metrics.leaseChanges.inc({ change: 'released' });
      this.options.log.info({ endpoint: key }, 'webhook endpoint handed over');
    })();
    return owned.releasing;
  }
}

/**
 * The live member with the highest hash of (member, endpoint): rendezvous hashing. SHA-256, not
 * the cheap partition hash: member ids differ in a few characters, and a weak hash would then
 * rank the members the same way for every endpoint.
 */
export function preferredOwner(key: string, members: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const member of members) {
    const score = createHash('sha256').update(member).update('|').update(key).digest().readUInt32BE(0);
    if (score > bestScore || (score === bestScore && best !== undefined && member < best)) {
      best = member;
      bestScore = score;
    }
  }
  return best;
}
