import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passes } from '../support/poll.js';
import { bit6, native } from '../support/presence.js';
import { startStack, type Stack } from '../support/stack.js';
import { Receiver, SECRET, startWebhookStack, type WebhookStack } from './support.js';

const LOG = 'signal_webhook_events_log_messages';

async function logMessages(nc: NatsConnection): Promise<number> {
  return (await nc.request(`$JS.API.STREAM.INFO.${LOG}`)).json<{ state: { messages: number } }>().state.messages;
}

describe('client_message events for channels whose namespace asks for them', () => {
  let receiver: Receiver;
  let stack: WebhookStack;
  let nc: NatsConnection;
  beforeAll(async () => {
    receiver = await Receiver.start();
    stack = await startWebhookStack([{ url: receiver.url, events: ['client_message', 'member_added'] }], {
      configureApps: (apps) => {
        // The file's JSON form (an object of patterns), as an operator writes it.
        (apps[0]!.environments.test as Record<string, unknown>).authorization = {
          policy: 'open',
          namespaces: { 'chat-*': { webhooks: { clientMessages: true } }, 'chat-quiet': {} },
        };
      },
    });
    nc = await connect({ servers: stack.nats.url });
  });
  afterAll(async () => {
    await nc?.close();
    await stack?.stop();
    await receiver?.stop();
  });

  it('each publish on either gateway is one event, with its sender, in the order the channel got them', async () => {
    const alice = await native(stack, 'alice', 'web', 0);
    const bob = await native(stack, 'bob', 'phone', 1);
    await alice.call('signal.join', { id: 'chat-1' });
    await bob.call('signal.join', { id: 'chat-1' });
    const sent: string[] = [];
    for (let i = 0; i < 6; i++) {
      const [who, client] = i % 2 === 0 ? ['alice', alice] : ['bob', bob];
      await client.call('signal.publish', { id: 'chat-1', event: 'said', message: { text: `${who} ${i}` } });
      sent.push(`${who} ${i}`);
    }
    // A publish that is not an `{event, message}` signal: all of it is the message, no event name.
    await alice.call('signal.publish', { id: 'chat-1', text: 'plain' });
    const got = await passes(() => {
      const events = receiver.unique().filter((e) => e.type === 'client_message' && e.channel === 'chat-1');
      expect(events).toHaveLength(7);
      return events;
    });
    expect(got.slice(0, 6).map((e) => (e.message as { message: { text: string } }).message.text)).toEqual(sent);
    expect(got[0]).toMatchObject({
      app: 'alpha',
      env: 'test',
      channel: 'chat-1',
      event: 'said',
      message: { event: 'said', message: { text: 'alice 0' } },
      sender: { address: alice.address, identity: 'alice', device: 'web', connection: alice.address!.split('/')[2] },
    });
    expect(got[1]!.sender).toMatchObject({ identity: 'bob', device: 'phone' });
    expect(got[6]).not.toHaveProperty('event');
    expect(got[6]!.message).toEqual({ text: 'plain' });
    for (const e of got) {
      expect(e.id).toMatch(/^k[a-z0-9]+-\d+$/);
      expect(Math.abs(e.time - Date.now())).toBeLessThan(60_000);
    }
    // The members got them as always.
    await passes(() => expect(bob.received('signal.publish').filter((f) => (f.params as { id: string }).id === 'chat-1')).toHaveLength(4));
    alice.close();
    bob.close();
  });

  it('a Bit6 client publishing is the same', async () => {
    const watcher = await native(stack, 'walt', 'web', 0);
    await watcher.call('signal.join', { id: 'chat-bit6', presence: true });
    const client = await bit6(stack, 'bea', 'tablet', 1);
    const channel = client.join('chat-bit6', { presence: true });
    await watcher.next((f) => f.method === 'signal.join' && (f.params as { from: string }).from.startsWith('bea/'));
    channel.publish({ event: 'wave', message: { hand: 'left' } });
    const event = await passes(() => {
      const e = receiver.unique().find((x) => x.type === 'client_message' && x.channel === 'chat-bit6');
      expect(e).toBeDefined();
      return e!;
    });
    expect(event).toMatchObject({ event: 'wave', message: { event: 'wave', message: { hand: 'left' } }, sender: { identity: 'bea', device: 'tablet' } });
    client.close();
    watcher.close();
  });

  it('channels that do not ask cost nothing: nothing is stored for them, and no event comes', async () => {
    const before = await logMessages(nc);
    const carl = await native(stack, 'carl', 'web', 0);
    const dana = await native(stack, 'dana', 'web', 1);
    for (const id of ['lobby', 'chat-quiet']) {
      await carl.call('signal.join', { id });
      await dana.call('signal.join', { id });
      await carl.call('signal.publish', { id, text: 'not for webhooks' });
      await dana.next((f) => f.method === 'signal.publish' && (f.params as { id: string }).id === id);
    }
    // A marker on a channel that asks proves the dispatcher got past the others.
    await carl.call('signal.join', { id: 'chat-marker' });
    await carl.call('signal.publish', { id: 'chat-marker', text: 'marker' });
    await passes(() => expect(receiver.unique().some((e) => e.channel === 'chat-marker')).toBe(true));
    expect(await logMessages(nc)).toBe(before + 1);
    expect(receiver.unique().filter((e) => e.channel === 'lobby' || e.channel === 'chat-quiet')).toEqual([]);
    carl.close();
    dana.close();
  });

  it('the gateway and the dispatcher count them', async () => {
    const gateway = await (await fetch(`http://127.0.0.1:${String(stack.gateways[0]!.ready.adminPort)}/metrics`)).text();
    expect(Number(/signal_gateway_webhook_client_messages_total\{result="stored"\} (\d+)/.exec(gateway)?.[1])).toBeGreaterThan(0);
    const dispatcher = await (await fetch(`http://127.0.0.1:${String(stack.webhooks[0]!.ready.adminPort)}/metrics`)).text();
    expect(Number(/signal_webhooks_events_produced_total\{type="client_message"\} (\d+)/.exec(dispatcher)?.[1])).toBe(9);
    expect(receiver.failures).toEqual([]);
  });
});

describe('client messages when no dispatcher ever created the messages log', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      gateways: 1,
      configureApps: (apps) => {
        const env = apps[0]!.environments.test as Record<string, unknown>;
        env.authorization = { policy: 'open', namespaces: { 'chat-*': { webhooks: { clientMessages: true } } } };
        env.webhooks = [{ url: 'http://127.0.0.1:9/hooks', secrets: [SECRET], events: ['client_message'] }];
      },
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('the publish is refused as unavailable, saying why, and reaches no member; other channels work', async () => {
    const eve = await native(stack, 'eve', 'web', 0);
    const fay = await native(stack, 'fay', 'web', 0);
    for (const c of [eve, fay]) await c.call('signal.join', { id: 'chat-9' });
    const refused = await eve.request('signal.publish', { id: 'chat-9', text: 'lost?' });
    expect(refused.error).toMatchObject({ data: { code: 'unavailable' } });
    expect(refused.error!.message).toContain("this channel's messages go to webhooks, and this one could not be stored (the webhooks messages log does not exist yet");
    for (const c of [eve, fay]) await c.call('signal.join', { id: 'lobby' });
    await eve.call('signal.publish', { id: 'lobby', text: 'fine' });
    await fay.next((f) => f.method === 'signal.publish' && (f.params as { id: string }).id === 'lobby');
    expect(fay.received('signal.publish').filter((f) => (f.params as { id: string }).id === 'chat-9')).toEqual([]);
    const metrics = await (await fetch(`http://127.0.0.1:${String(stack.gateways[0]!.ready.adminPort)}/metrics`)).text();
    expect(metrics).toContain('signal_gateway_webhook_client_messages_total{result="failed"} 1');
    eve.close();
    fay.close();
  });
});
