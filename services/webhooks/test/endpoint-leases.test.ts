import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { KV } from '@nats-io/kv';
import { startNats, type NatsServer } from '@signal/harness';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passes } from '../../../test/support/poll.js';
import { EndpointLeases, preferredOwner, type LeaseHolder } from '../src/deliver/endpoint-leases.js';
import { openLeaseBucket } from '../src/streams.js';

const log = pino({ level: 'silent' });
const KEYS = Array.from({ length: 16 }, (_, i) => `app.test.${i.toString(16).padStart(16, '0')}`);

/** Records what the leases tell it; a handover waits for `drained` when one is set. */
class Holder implements LeaseHolder {
  readonly owned = new Set<string>();
  readonly lostKeys: { key: string; released: boolean }[] = [];
  drained: Promise<void> | undefined;
  acquired(key: string): void {
    expect(this.owned.has(key)).toBe(false);
    this.owned.add(key);
  }
  async lost(key: string, released: boolean): Promise<void> {
    if (released) await this.drained;
    this.owned.delete(key);
    this.lostKeys.push({ key, released });
  }
}

let nats: NatsServer;
let nc: NatsConnection;
let bucket = 0;
beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

async function freshBucket(leaseMs: number): Promise<KV> {
  return (await openLeaseBucket(nc, `leases_${++bucket}`, { WEBHOOK_LEASE_MS: leaseMs, WEBHOOK_REPLICAS: 1 })).kv;
}

function member(kv: KV, leaseMs: number): { leases: EndpointLeases; holder: Holder } {
  const holder = new Holder();
  return { leases: new EndpointLeases({ kv, leaseMs, holder, log }), holder };
}

describe('endpoint leases (docs/webhooks.md#delivery-one-dispatcher-per-endpoint)', () => {
  it('rendezvous: every endpoint has one preferred member, and a member leaving moves only its own endpoints', () => {
    const before = new Map(KEYS.map((k) => [k, preferredOwner(k, ['a', 'b', 'c'])]));
    expect(new Set(before.values())).toEqual(new Set(['a', 'b', 'c']));
    for (const [key, owner] of before) {
      const after = preferredOwner(key, ['a', 'b']);
      if (owner !== 'c') expect(after).toBe(owner);
    }
    expect(preferredOwner('x', [])).toBeUndefined();
  });

  it('two dispatchers: each endpoint is delivered by exactly one, its preferred one, and both get some', async () => {
    const kv = await freshBucket(60_000);
    const a = member(kv, 60_000);
    const b = member(kv, 60_000);
    await a.leases.want(KEYS);
    await b.leases.want(KEYS);
    // a saw b only now: it hands b's endpoints over; b claims them once they are free.
    await a.leases.want(KEYS);
    await passes(async () => {
      await b.leases.want(KEYS);
      expect(a.holder.owned.size + b.holder.owned.size).toBe(KEYS.length);
    });
    for (const key of KEYS) {
      const owner = preferredOwner(key, [a.leases.self, b.leases.self]);
      expect((owner === a.leases.self ? a : b).holder.owned.has(key)).toBe(true);
      expect((owner === a.leases.self ? b : a).holder.owned.has(key)).toBe(false);
      expect((owner === a.leases.self ? a : b).leases.holds(key)).toBe(true);
    }
    expect(a.holder.owned.size).toBeGreaterThan(0);
    expect(b.holder.owned.size).toBeGreaterThan(0);
    await a.leases.stop();
    await b.leases.stop();
  });

  it('a handover waits for the owner to drain: the successor cannot claim before', async () => {
    const kv = await freshBucket(60_000);
    const a = member(kv, 60_000);
    await a.leases.want(KEYS);
    expect(a.holder.owned.size).toBe(KEYS.length);
    const b = member(kv, 60_000);
    await b.leases.want(KEYS);
    expect(b.holder.owned.size).toBe(0);
    let drain!: () => void;
    a.holder.drained = new Promise((resolve) => (drain = resolve));
    await a.leases.want(KEYS);
    const moving = KEYS.filter((k) => preferredOwner(k, [a.leases.self, b.leases.self]) === b.leases.self);
    expect(moving.length).toBeGreaterThan(0);
    for (const key of moving) expect(a.leases.holds(key)).toBe(false);
    await b.leases.want(KEYS);
    expect(b.holder.owned.size).toBe(0);
    drain();
    await passes(async () => {
      await b.leases.want(KEYS);
      expect([...b.holder.owned].sort()).toEqual([...moving].sort());
    });
    expect(a.holder.lostKeys.filter((l) => l.released).map((l) => l.key).sort()).toEqual([...moving].sort());
    await a.leases.stop();
    await b.leases.stop();
  });

  it('a dispatcher that stops hands everything over at once (no wait for the lease to age out)', async () => {
    const kv = await freshBucket(60_000);
    const a = member(kv, 60_000);
    const b = member(kv, 60_000);
    await a.leases.want(KEYS);
    await b.leases.want(KEYS);
    await a.leases.stop();
    await b.leases.want(KEYS);
    expect(b.holder.owned.size).toBe(KEYS.length);
    await b.leases.stop();
  });

  it('a dispatcher that stalls past WEBHOOK_LEASE_MS loses its endpoints to the others, and is told so when it wakes', async () => {
    const leaseMs = 1000;
    const kv = await freshBucket(leaseMs);
    // Never renews: it only runs a round when told to, like a process whose event loop is blocked.
    const stalled = member(kv, leaseMs);
    await stalled.leases.want(KEYS);
    expect(stalled.holder.owned.size).toBe(KEYS.length);
    const survivor = member(kv, leaseMs);
    survivor.leases.start();
    await survivor.leases.want(KEYS);
    expect(survivor.holder.owned.size).toBe(0);
    await passes(() => expect(survivor.holder.owned.size).toBe(KEYS.length), 10_000);
    for (const key of KEYS) expect(stalled.leases.holds(key)).toBe(false);
    await stalled.leases.want(KEYS);
    expect(stalled.holder.owned.size).toBe(0);
    expect(stalled.holder.lostKeys.every((l) => !l.released)).toBe(true);
    expect(stalled.holder.lostKeys.length).toBe(KEYS.length);
    await survivor.leases.stop();
  });
});
