import { connect, type NatsConnection } from '@nats-io/transport-node';
import { encodeToken } from '@signal/core';
import { openOnlineBucket } from '@signal/presence';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passes } from '../support/poll.js';
import { addressesIn, native } from '../support/presence.js';
import type { RpcClient } from '../support/rpc-client.js';
import { Receiver, startWebhookStack, type WebhookEvent, type WebhookStack } from './support.js';

/**
 * What a backend knows after applying the events in the order they came: members of each
 * channel and users online. A transition that contradicts the view (an add of a member already
 * there, an offline of a user not online) is recorded, and must never happen.
 */
function viewOf(events: WebhookEvent[]) {
  const members = new Map<string, Set<string>>();
  const online = new Set<string>();
  const occupied = new Set<string>();
  const contradictions: string[] = [];
  /** Adds or removes `item`; a contradiction when it was already in (or not in) the set. */
  const apply = (set: Set<string>, item: string, add: boolean, id: string) => {
    if (set.has(item) === add) contradictions.push(id);
    else if (add) set.add(item);
    else set.delete(item);
  };
  for (const e of events) {
    if (e.type === 'user_online' || e.type === 'user_offline') apply(online, e.user!, e.type === 'user_online', e.id);
    if (e.type === 'channel_occupied' || e.type === 'channel_vacated') apply(occupied, e.channel!, e.type === 'channel_occupied', e.id);
    if (e.type === 'member_added' || e.type === 'member_removed') {
      let set = members.get(e.channel!);
      if (!set) members.set(e.channel!, (set = new Set()));
      apply(set, e.member!.address, e.type === 'member_added', e.id);
    }
  }
  return { members, online, occupied, contradictions };
}

describe('many users joining and leaving one channel from both gateways', () => {
  let receiver: Receiver;
  let stack: WebhookStack;
  let nc: NatsConnection;
  beforeAll(async () => {
    receiver = await Receiver.start();
    stack = await startWebhookStack([{ url: receiver.url }]);
    nc = await connect({ servers: stack.nats.url });
  });
  afterAll(async () => {
    await nc?.close();
    await stack?.stop();
    await receiver?.stop();
  });

  it("the receiver's view of members and online users ends equal to the truth", async () => {
    const users = Array.from({ length: 12 }, (_, i) => `user-${i}`);
    const open = new Map<RpcClient, string>();
    /** Connections still in the channel: it is occupied while there is one. */
    const inside = new Set<RpcClient>();
    // A fixed seed: the same interleaving of operations every run, racing across both gateways.
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    await Promise.all(
      users.map(async (identity) => {
        for (let round = 0; round < 4; round++) {
          const clients = await Promise.all([native(stack, identity, 'a', 0), native(stack, identity, 'b', 1)]);
          for (const c of clients) open.set(c, identity);
          await Promise.all(clients.map((c) => c.call('signal.join', { id: 'busy', presence: true })));
          for (const c of clients) inside.add(c);
          for (const c of clients) {
            if (random() < 0.5) {
              await c.call('signal.leave', { id: 'busy' });
              inside.delete(c);
            }
            if (random() < 0.6) {
              c.close();
              open.delete(c);
              inside.delete(c);
            }
          }
        }
      }),
    );
    const truthOnline = new Set(open.values());
    await passes(async () => {
      const view = viewOf(receiver.unique());
      expect(view.contradictions).toEqual([]);
      expect([...(view.members.get('busy') ?? [])].sort()).toEqual(await addressesIn(stack, 'busy'));
      expect([...view.online].sort()).toEqual([...truthOnline].sort());
      // Occupancy as the gateways write it, from both of them.
      expect([...view.occupied].filter((c) => c === 'busy')).toEqual(inside.size > 0 ? ['busy'] : []);
    }, 20_000);
    expect(truthOnline.size).toBeGreaterThan(0);
    expect(inside.size).toBeGreaterThan(0);
    // Batching: with this many events at once, requests carried several.
    expect(Math.max(...receiver.requests.map((r) => r.events.length))).toBeGreaterThan(1);
    for (const c of open.keys()) c.close();
    // Everyone gone: the view empties too.
    await passes(() => {
      const view = viewOf(receiver.unique());
      expect(view.contradictions).toEqual([]);
      expect(view.members.get('busy')?.size ?? 0).toBe(0);
      expect(view.online.size).toBe(0);
      expect(view.occupied.has('busy')).toBe(false);
    }, 20_000);
  });

  it('occupancy written by three nodes at once, as the signal_occupancy contract says: occupied and vacated match the keys', async () => {
    // The gateways' side of signal_occupancy is not part of this branch; this writes its contract by hand.
    const bucket = await openOnlineBucket(nc, { bucket: 'signal_occupancy', replicas: 1, storage: 'memory' });
    const channels = Array.from({ length: 6 }, (_, i) => `space ${i}`);
    const held = new Set<string>();
    let seed = 11;
    const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    await Promise.all(
      ['nodea', 'nodeb', 'nodec'].map(async (node) => {
        for (let i = 0; i < 40; i++) {
          const channel = channels[Math.floor(random() * channels.length)]!;
          const key = `alpha.test.${encodeToken(channel)}.${node}`;
          if (held.has(key)) {
            held.delete(key);
            await bucket.delete(key);
          } else {
            held.add(key);
            await bucket.put(key, '{}');
          }
        }
      }),
    );
    const truth = new Set([...held].map((key) => channels.find((c) => key.startsWith(`alpha.test.${encodeToken(c)}.`))!));
    await passes(() => {
      const view = viewOf(receiver.unique());
      expect(view.contradictions).toEqual([]);
      expect([...view.occupied].sort()).toEqual([...truth].sort());
    }, 20_000);
    expect(truth.size).toBeGreaterThan(0);
  });
});
