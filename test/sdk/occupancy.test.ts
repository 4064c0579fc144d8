import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Occupancy } from '@signal/client';
import { startStack, type Stack } from '../support/stack.js';
import { anonymousClient, client, closeClients, record, waitFor } from './support.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 2 });
});
afterEach(() => {
  closeClients();
});
afterAll(async () => {
  await stack?.stop();
});

describe('occupancy in the SDK', () => {
  it('gives the count at join, then an occupancy event for each change, across gateways', async () => {
    const alice = client(stack, 'alice', 'web', { gateway: 0 });
    const arena = alice.join('arena', { occupancy: true });
    const seen = record(arena, 'occupancy');
    await arena.joined;
    expect(arena.followsOccupancy).toBe(true);
    expect(arena.occupancy).toEqual({ connections: 1, participants: 0 });
    expect(seen).toEqual([[{ connections: 1, participants: 0 }]]);

    const bob = client(stack, 'bob', 'phone', { gateway: 1 });
    const bobs = bob.join('arena', { presence: true });
    await bobs.joined;
    const viewer = anonymousClient(stack, { gateway: 1 });
    await viewer.join('arena').joined;
    await waitFor('alice to count bob and the viewer', () => sameAs(arena.occupancy, { connections: 3, participants: 1 }));

    await bobs.leave();
    await waitFor('alice to count bob gone', () => sameAs(arena.occupancy, { connections: 2, participants: 0 }));
    // Each event is a change from the one before it, and the last one is what the channel shows.
    const counts = seen.map(([occupancy]) => occupancy);
    for (let i = 1; i < counts.length; i++) expect(counts[i]).not.toEqual(counts[i - 1]);
    expect(counts.at(-1)).toEqual(arena.occupancy);
  });

  it('a channel joined without occupancy has none, and gets no occupancy events', async () => {
    const carol = client(stack, 'carol', 'web', { gateway: 0 });
    const plain = carol.join('plain');
    const seen = record(plain, 'occupancy');
    await plain.joined;
    const dave = client(stack, 'dave', 'web', { gateway: 0 });
    const followed = dave.join('plain', { occupancy: true });
    await followed.joined;
    expect(followed.occupancy).toEqual({ connections: 2, participants: 0 });
    // An event the other channel object does get proves notifications flowed meanwhile.
    const eve = client(stack, 'eve', 'web', { gateway: 1 });
    await eve.join('plain').joined;
    await waitFor('dave to count eve', () => sameAs(followed.occupancy, { connections: 3, participants: 0 }));
    expect(plain.followsOccupancy).toBe(false);
    expect(plain.occupancy).toBeUndefined();
    expect(seen).toEqual([]);
  });
});

function sameAs(actual: Occupancy | undefined, expected: Occupancy): boolean {
  return actual?.connections === expected.connections && actual.participants === expected.participants;
}
