import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bit6Channel, Bit6Client } from '../support/bit6-client.js';
import { nativeView } from '../support/native-view.js';
import { bit6, getParticipants, native } from '../support/presence.js';
import { passes } from '../support/poll.js';
import type { RpcClient } from '../support/rpc-client.js';
import { startStack, type Stack } from '../support/stack.js';

/**
 * Many joins, leaves, state updates and closes at once on one channel, from clients on both
 * nodes and of both protocols. Afterwards the store and every remaining client must agree on
 * who is there and with which state.
 */
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ gateways: 2 });
});
afterAll(async () => {
  await stack?.stop();
});

const CHANNEL = 'busy';
const PER_KIND_PER_NODE = 12;

interface Actor {
  name: string;
  kind: 'native' | 'bit6';
  native?: RpcClient;
  bit6?: Bit6Client;
  channel?: Bit6Channel;
  /** Where the script left it: still a participant, and with which state. */
  present: boolean;
  closed: boolean;
  state: unknown;
}

function viewOf(actor: Actor): Map<string, unknown> {
  if (actor.native) return nativeView(actor.native, CHANNEL);
  return new Map([...(actor.channel?.participants ?? new Map()).entries()].map(([k, v]) => [k, v.state ?? null]));
}

async function storeView(): Promise<Map<string, unknown>> {
  const { status, body } = await getParticipants(stack, CHANNEL);
  expect(status).toBe(200);
  return new Map(body.participants!.map((p) => [p.address, p.state ?? null]));
}

/** A Bit6 app leaving and coming back waits until it is out (the SDK itself does not wait). */
async function outOfChannel(actor: Actor): Promise<void> {
  await passes(async () => expect([...(await storeView()).keys()].some((a) => a.startsWith(`${actor.name}/`))).toBe(false));
  const c = actor.bit6!;
  const pongs = c.raw.filter((t) => t === '_pong').length;
  c.ws.send('_ping');
  await c.until(() => c.raw.filter((t) => t === '_pong').length > pongs, () => c.raw.slice(-5));
}

async function nativeScript(actor: Actor, i: number): Promise<void> {
  const c = actor.native!;
  const join = c.call('signal.join', { id: CHANNEL, presence: true, state: { i, step: 0 } });
  const updates = [1, 2, 3].map((step) => c.call('signal.publish', { id: CHANNEL, state: { i, step } }));
  await Promise.all([join, ...updates]);
  actor.present = true;
  actor.state = { i, step: 3 };
  if (i % 4 === 1) {
    await c.call('signal.leave', { id: CHANNEL });
    await c.call('signal.join', { id: CHANNEL, presence: true, state: { i, step: 4 } });
    actor.state = { i, step: 4 };
  }
  if (i % 6 === 3) {
    await c.call('signal.leave', { id: CHANNEL });
    actor.present = false;
  }
  if (i % 8 === 5) {
    c.close();
    actor.closed = true;
    actor.present = false;
  }
}

async function bit6Script(actor: Actor, i: number): Promise<void> {
  const c = actor.bit6!;
  actor.channel = c.join(CHANNEL, { presence: true });
  for (let step = 0; step < 3; step++) actor.channel.updateState({ i, step });
  actor.present = true;
  actor.state = { i, step: 2 };
  if (i % 4 === 2) {
    actor.channel.leave();
    await outOfChannel(actor);
    actor.channel = c.join(CHANNEL, { presence: true });
    actor.channel.updateState({ i, step: 9 });
    actor.state = { i, step: 9 };
  }
  if (i % 6 === 4) {
    actor.channel.leave();
    actor.channel = undefined;
    actor.present = false;
  }
  if (i % 8 === 6) {
    c.close();
    actor.closed = true;
    actor.present = false;
  }
}

describe('concurrent churn on one presence channel across two nodes', () => {
  it('ends with the store and every client agreeing', async () => {
    const actors: Actor[] = [];
    for (let node = 0; node < 2; node++) {
      for (let i = 0; i < PER_KIND_PER_NODE; i++) {
        const n = `n${node}x${i}`;
        const b = `b${node}x${i}`;
        actors.push({ name: n, kind: 'native', native: await native(stack, n, 'app', node), present: false, closed: false, state: null });
        actors.push({ name: b, kind: 'bit6', bit6: await bit6(stack, b, 'web', node), present: false, closed: false, state: null });
      }
    }

    // Everyone at once, in no coordinated order: join with presence, update state several
    // times; some leave and come back, some leave for good, some close their socket.
    await Promise.all(actors.map((actor, i) => (actor.kind === 'native' ? nativeScript(actor, i) : bit6Script(actor, i))));
    // Late joiners on both nodes while the dust settles.
    for (let node = 0; node < 2; node++) {
      const late: Actor = { name: `late${node}`, kind: 'native', native: await native(stack, `late${node}`, 'app', node), present: true, closed: false, state: null };
      await late.native!.call('signal.join', { id: CHANNEL, presence: true });
      actors.push(late);
    }

    const remaining = actors.filter((a) => a.present);
    expect(remaining.length).toBeGreaterThan(10);
    await passes(async () => {
      const store = await storeView();
      // The store holds exactly the participants that are left, each with its last state.
      expect(Object.fromEntries([...store].map(([address, state]) => [address.split('/')[0], state]))).toEqual(
        Object.fromEntries(remaining.map((a) => [a.name, a.state])),
      );
      // Every one of them sees exactly the others, with those states.
      for (const actor of remaining) {
        const others = Object.fromEntries([...store].filter(([address]) => !address.startsWith(`${actor.name}/`)));
        expect({ who: actor.name, view: Object.fromEntries(viewOf(actor)) }).toEqual({ who: actor.name, view: others });
      }
    }, 20_000);
    for (const actor of actors) expect(actor.bit6?.serverRequests ?? []).toEqual([]);
    for (const actor of actors) {
      if (actor.closed) continue;
      actor.native?.close();
      actor.bit6?.close();
    }
  });
});
