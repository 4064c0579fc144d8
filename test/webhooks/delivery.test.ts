import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passes } from '../support/poll.js';
import { native } from '../support/presence.js';
import { OLD_SECRET, Receiver, SECRET, churn, expectedChurn, memberEvents, startWebhookStack, type WebhookStack } from './support.js';

/** FAST_RETRIES: 200 ms, doubling, at most 1600 ms. */
const BACKOFF_MS = [200, 400, 800, 1600, 1600];

describe('webhook delivery when the receiver fails', () => {
  let receiver: Receiver;
  let rotating: Receiver;
  let stranger: Receiver;
  let users: Receiver;
  let stack: WebhookStack;
  beforeAll(async () => {
    receiver = await Receiver.start();
    // Signed with both secrets during a rotation; this receiver knows only the new one.
    rotating = await Receiver.start(SECRET);
    // This one was given another secret than the apps file's.
    stranger = await Receiver.start('not-the-secret-of-this-endpoint-0123456789');
    // User events only, for the order per user while failing.
    users = await Receiver.start();
    stack = await startWebhookStack([
      { url: receiver.url, events: ['member_added', 'member_removed'] },
      { url: users.url, events: ['user_online', 'user_offline'] },
      { url: rotating.url, secrets: [OLD_SECRET, SECRET], events: ['member_added', 'member_removed'] },
      { url: stranger.url, events: ['member_added', 'member_removed'] },
    ]);
  });
  afterAll(async () => {
    await stack?.stop();
    for (const r of [receiver, rotating, stranger, users]) await r?.stop();
  });

  it('an endpoint answering 500 gets every event again with the documented backoff, then all of them in order', async () => {
    receiver.status = 500;
    users.status = 500;
    await churn(stack, 'erin', 'retry-room', 4);
    // A user coming and going meanwhile: her events wait in her partition, in order, too.
    for (let i = 0; i < 3; i++) {
      const client = await native(stack, 'uma', `d${i}`, i % 2);
      client.close();
      await client.closed;
    }
    // The first event of the channel is tried again and again; the others wait behind it.
    const attempts = await passes(() => {
      const times = receiver.failures.filter((r) => r.events.some((e) => e.channel === 'retry-room')).map((r) => r.at);
      expect(times.length).toBeGreaterThanOrEqual(5);
      return times;
    }, 20_000);
    const firsts = receiver.failures.filter((r) => r.events.some((e) => e.channel === 'retry-room')).map((r) => r.events.find((e) => e.channel === 'retry-room')!.id);
    expect(new Set(firsts).size).toBe(1);
    for (let i = 1; i < 5; i++) expect(attempts[i]! - attempts[i - 1]!).toBeGreaterThanOrEqual(BACKOFF_MS[i - 1]! - 20);
    receiver.status = 200;
    await passes(() => expect(memberEvents(receiver, 'retry-room')).toEqual(expectedChurn(4)), 15_000);
    expect(users.failures.some((r) => r.events.some((e) => e.user === 'uma'))).toBe(true);
    users.status = 200;
    // Her connections may overlap across the gateways (then fewer transitions), but what comes alternates, in order, ending offline.
    await passes(() => {
      const types = users.unique().filter((e) => e.user === 'uma').map((e) => e.type);
      expect(types.length).toBeGreaterThanOrEqual(2);
      expect(types).toEqual(Array(types.length / 2).fill(['user_online', 'user_offline']).flat());
    }, 15_000);
  });

  it('an endpoint that is down loses nothing and gets the events in order once it is back', async () => {
    const port = Number(new URL(receiver.url).port);
    await receiver.stop();
    await churn(stack, 'dora', 'down-room', 3, 1);
    // Wait for the dispatcher to have failed to connect a few times.
    await passes(async () => {
      const metrics = await (await fetch(`http://127.0.0.1:${String(stack.webhooks[0]!.ready.adminPort)}/metrics`)).text();
      expect(Number(/signal_webhooks_requests_total\{result="error"\} (\d+)/.exec(metrics)?.[1] ?? 0)).toBeGreaterThanOrEqual(3);
    }, 15_000);
    const back = await Receiver.start(SECRET, port);
    await passes(() => expect(memberEvents(back, 'down-room')).toEqual(expectedChurn(3)), 15_000);
    receiver = back;
  });

  it('events of a channel that queue behind a request in flight go out together in the next request, in order', async () => {
    const produced = async () => {
      const text = await (await fetch(`http://127.0.0.1:${String(stack.webhooks[0]!.ready.adminPort)}/metrics`)).text();
      return [...text.matchAll(/^signal_webhooks_events_produced_total\{type="member_(?:added|removed)"\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    };
    const before = { requests: receiver.requests.length, produced: await produced() };
    let open!: () => void;
    receiver.gate = new Promise((resolve) => (open = resolve));
    await churn(stack, 'gus', 'batch-room', 5);
    // The room's first request is held at the receiver while the other nine events are stored and reach the dispatcher.
    await passes(async () => {
      expect(receiver.waiting).toBeGreaterThan(0);
      expect((await produced()) - before.produced).toBeGreaterThanOrEqual(10);
    });
    receiver.gate = undefined;
    open();
    await passes(() => expect(memberEvents(receiver, 'batch-room')).toEqual(expectedChurn(5)));
    const perRequest = receiver.requests.slice(before.requests).map((r) => r.events.filter((e) => e.channel === 'batch-room').length);
    expect(Math.max(...perRequest)).toBeGreaterThanOrEqual(2);
  });

  it('during a secret rotation every request verifies with the new secret; a receiver with another secret verifies none', async () => {
    await passes(() => expect(memberEvents(rotating, 'retry-room')).toEqual(expectedChurn(4)));
    expect(rotating.failures).toEqual([]);
    await passes(() => expect(stranger.failures.length).toBeGreaterThan(0));
    expect(stranger.requests).toEqual([]);
    expect(stranger.failures.every((r) => !r.verified)).toBe(true);
  });
});
