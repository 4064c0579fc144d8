import { randomBytes } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  NodeSwept,
  type BeatListener,
  type MarkerPurge,
  type LivenessWatch,
  type NodeRegistry,
  type ObservedNode,
  type PresenceStore,
  type PresenceTiming,
  type Sweeper,
} from '@signal/presence';
import type { Logger } from 'pino';
import { metrics, type PURGED_BUCKETS } from '../metrics/gateway-metrics.js';
import type { PresenceService } from './presence-service.js';
import type { BeatThread } from './beat-thread.js';

/**
 * Records of gateways from before plain-NATS beats carry no `beats` flag; they are judged on
 * their record alone, with the node timeout of that time, so a rolling upgrade sweeps nobody.
 */
const RECORD_ONLY_TIMEOUT_MS = 5000;

export interface PresenceNodeDeps {
  nc: NatsConnection;
  node: string;
  registry: NodeRegistry;
  watch: LivenessWatch;
  /** Everyone's plain-NATS beats, as heard here. */
  beats: BeatListener;
  /** This node's own plain-NATS beat. */
  beatThread: BeatThread;
  sweeper: Sweeper;
  store: PresenceStore;
  presence: PresenceService;
  timing: PresenceTiming;
  log: Logger;
  /**
   * Creates the presence buckets where they are missing. A nats-server restart loses buckets
   * kept in memory (PRESENCE_STORAGE=memory, the default): without them no heartbeat, watch or
   * join works until someone creates them again.
   */
  ensureBuckets: () => Promise<void>;
  /** This node's keys in the online bucket, written again after this node was swept. */
  online: { reannounce(): Promise<void> };
  /**
   * The other buckets written per connection or channel (online, occupancy), whose old delete
   * markers the janitor purges as it does the presence bucket's, by name for the metric.
   */
  markerPurges: readonly { readonly name: Exclude<(typeof PURGED_BUCKETS)[number], 'presence'>; readonly purge: MarkerPurge }[];
}

export function newInstanceId(): string {
  return randomBytes(6).toString('hex');
}

/**
 * This gateway's part in keeping presence true across the cluster: it heartbeats; it sweeps
 * nodes whose heartbeat stopped (claimed with a compare-and-set, so one node sweeps each);
 * it notices when it was itself swept and announces its participants again; and now and
 * then it cleans up after failures nobody else would see.
 */
export class PresenceNode {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sweeping = new Set<string>();
  private orphans = new Set<string>();
  private lastBeatOk = performance.now();
  private beatFailing = false;
  private watchStartedAt = performance.now();
  private lastJudgedAt = performance.now();
  private stopped = false;

  constructor(private readonly deps: PresenceNodeDeps) {}

  /** Registers this process and clears what an earlier process with the same node id left behind. */
  async start(): Promise<void> {
    const { registry, sweeper, watch, node, timing, log } = this.deps;
    await registry.register();
    const leftovers = await sweeper.sweepNode(node, (entry) => entry.instance !== registry.instance);
    if (leftovers > 0) log.info({ removed: leftovers }, 'removed presence entries left by an earlier process with this node id');
    await sweeper.sweepCompanions(node, (instance) => instance !== registry.instance);
    await watch.start();
    this.watchStartedAt = performance.now();
    this.deps.beats.start();
    this.deps.beatThread.start();
    this.lastJudgedAt = performance.now();
    this.every(timing.beatMs, async () => this.judge());
    this.every(timing.heartbeatMs, () => this.tick());
    // Apart, so that a long cluster-wide pass never holds back this node's own clean-up (its
    // views' tombstones grow with every leave until pruned).
    this.every(timing.janitorMs, () => this.tidyLocal());
    this.every(timing.janitorMs, () => this.janitor());
    void this.followConnection();
  }

  /** For /readyz: the presence store took this node's last heartbeat recently. */
  readiness(): { ready: boolean; detail?: string } {
    const silentMs = performance.now() - this.lastBeatOk;
    if (silentMs <= this.deps.timing.heartbeatMs * 3) return { ready: true };
    return { ready: false, detail: `presence store has not taken a heartbeat for ${Math.round(silentMs)} ms` };
  }

  /** Clean shutdown: the record goes, so nobody waits for this node to time out. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.deps.watch.stop();
    this.deps.beats.stop();
    await this.deps.beatThread.stop();
    await this.deps.registry.deregister();
  }

  private async tick(): Promise<void> {
    const { registry, presence, log } = this.deps;
    try {
      await registry.beat();
      this.lastBeatOk = performance.now();
      if (this.beatFailing) log.info('presence heartbeat works again');
      this.beatFailing = false;
    } catch (error) {
      if (!(error instanceof NodeSwept)) {
        // Once per outage, not once per beat.
        if (!this.beatFailing) log.warn({ err: error }, 'presence heartbeat failed; other nodes sweep this one if it goes on');
        this.beatFailing = true;
        // The buckets may be gone (a restarted nats-server); the next beat then finds this
        // node's record missing, takes that as being swept, and announces its participants again.
        await this.deps.ensureBuckets().catch(() => undefined);
        return;
      }
      log.warn('this node was declared dead and swept (frozen or cut off for too long); announcing its participants again');
      await registry.register(newInstanceId());
      this.lastBeatOk = performance.now();
      await presence.reannounce();
      await this.deps.online.reannounce();
      await presence.resync();
    }
    await this.checkWatch();
  }

  /**
   * The failure detector, every beat interval: a node is dead when it has been neither heard
   * (plain-NATS beats, from its worker thread) nor seen (its record's revision moving) for the
   * node timeout. Only a node that can itself reach the store and hear its own beat judges
   * others: a cut-off node must not sweep the cluster. And a judge whose own event loop was
   * just held up judges nobody on what it could not read meanwhile.
   */
  private judge(): void {
    const { watch, beats, timing, node } = this.deps;
    const now = performance.now();
    const late = now - this.lastJudgedAt - timing.beatMs;
    this.lastJudgedAt = now;
    if (late > timing.nodeTimeoutMs / 2) {
      beats.forgiveAll();
      watch.forgiveAll();
      return;
    }
    beats.prune(timing.nodeTimeoutMs);
    if (now - this.lastBeatOk > timing.heartbeatMs * 2 || beats.silentFor(node) >= timing.nodeTimeoutMs) return;
    for (const observed of watch.observed()) {
      const other = observed.record.node;
      if (other === node || this.sweeping.has(other)) continue;
      const unseenMs = now - observed.changedAt;
      const dead = observed.record.beats
        ? unseenMs >= timing.nodeTimeoutMs && beats.silentFor(other) >= timing.nodeTimeoutMs
        : unseenMs >= Math.max(timing.nodeTimeoutMs, RECORD_ONLY_TIMEOUT_MS);
      if (!dead) continue;
      this.deps.log.info({ node: other, unseenMs: Math.round(unseenMs), unheardMs: Math.round(beats.silentFor(other)) }, 'a gateway node was neither heard nor seen within PRESENCE_NODE_TIMEOUT_MS; claiming it');
      this.sweeping.add(other);
      void this.sweep(observed).finally(() => this.sweeping.delete(other));
    }
  }

  private async sweep(observed: ObservedNode): Promise<void> {
    const { sweeper, log } = this.deps;
    try {
      const claim = await sweeper.claim(observed);
      if (claim === undefined) return;
      const started = performance.now();
      const removed = await sweeper.sweepClaimed(observed, claim);
      metrics.presenceSweeps.inc();
      metrics.presenceSweptEntries.inc(removed);
      log.info({ node: observed.record.node, removed, ms: Math.round(performance.now() - started) }, 'swept a dead gateway node');
    } catch (error) {
      log.warn({ err: error, node: observed.record.node }, 'sweeping a dead node failed; retrying on the next heartbeat');
    }
  }

  /** Our own beats must show up in the watch; if they stop, the watch is broken, not the cluster. */
  private async checkWatch(): Promise<void> {
    const { watch, node, timing, log } = this.deps;
    const now = performance.now();
    const own = watch.get(node);
    if (now - this.watchStartedAt < timing.nodeTimeoutMs) return;
    if (own && now - own.changedAt < timing.nodeTimeoutMs) return;
    log.warn('the heartbeat watch stopped showing this node; reopening it');
    await watch.restart();
    watch.forgiveAll();
    this.watchStartedAt = now;
  }

  /** This node's own clean-up: old tombstones out of its views, its entries no connection holds out of the store. */
  private async tidyLocal(): Promise<void> {
    const { presence, timing, log } = this.deps;
    for (const view of presence.views.all()) view.prune(timing.janitorMs);
    const audited = await presence.audit();
    if (audited > 0) log.info({ removed: audited }, 'removed presence entries of this node that no connection holds');
  }

  /** The cluster-wide clean-up, on one node: orphaned entries, old delete markers. */
  private async janitor(): Promise<void> {
    const { sweeper, store, watch, timing, log } = this.deps;
    if (!this.isJanitor()) return;
    const live = new Map(watch.observed().filter((o) => !o.record.sweptBy).map((o) => [o.record.node, o.record.instance]));
    const { orphans, removed } = await sweeper.sweepOrphans(live, this.orphans);
    this.orphans = orphans;
    const purged: Record<string, number> = { presence: await store.purgeRemoved(timing.janitorMs) };
    for (const { name, purge } of this.deps.markerPurges) purged[name] = await purge.purge(timing.janitorMs);
    for (const [bucket, count] of Object.entries(purged)) metrics.markersPurged.inc({ bucket }, count);
    if (removed > 0 || Object.values(purged).some((count) => count > 0)) log.info({ orphansRemoved: removed, markersPurged: purged }, 'presence janitor');
  }

  /** One live node does the cluster-wide cleanup: the one with the smallest id. */
  private isJanitor(): boolean {
    const live = this.deps.watch.observed().filter((o) => !o.record.sweptBy).map((o) => o.record.node);
    return live.length > 0 && live.sort()[0] === this.deps.node;
  }

  /** After a NATS outage: nobody is judged on the gap, and local views are re-read. */
  private async followConnection(): Promise<void> {
    const { nc, watch, presence, log } = this.deps;
    for await (const status of nc.status()) {
      if (this.stopped) return;
      if (status.type === 'update' && (status.deleted?.length ?? 0) > 0) {
        // A NATS node left the cluster: the gateways connected to it reconnect, each at its own
        // pace, and their beats stop meanwhile. Nobody is judged on that gap.
        this.deps.beats.forgiveAll(this.deps.timing.nodeTimeoutMs);
        log.info({ deleted: status.deleted }, 'a NATS server left the cluster; gateways get one more node timeout to reconnect');
        continue;
      }
      if (status.type !== 'reconnect') continue;
      log.info('NATS reconnected; re-reading presence');
      try {
        await this.deps.ensureBuckets();
        await watch.restart();
        watch.forgiveAll();
        // The others on the NATS server this one lost reconnect too, some later than this one.
        this.deps.beats.forgiveAll(this.deps.timing.nodeTimeoutMs);
        this.watchStartedAt = performance.now();
        await presence.resync();
      } catch (error) {
        log.warn({ err: error }, 'presence resync after reconnect failed');
      }
    }
  }

  /** Runs `task` every `ms`, never two at once; a failure is logged and the next run goes ahead. */
  private every(ms: number, task: () => Promise<void>): void {
    const schedule = () => {
      if (this.stopped) return;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        task()
          .catch((error: unknown) => this.deps.log.warn({ err: error }, 'presence maintenance failed'))
          .finally(schedule);
      }, ms);
      this.timers.add(timer);
    };
    schedule();
  }
}
