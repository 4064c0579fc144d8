import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceProcess } from '@signal/harness';
import { passes } from '../support/poll.js';
import { Receiver, churn, expectedChurn, memberEvents, startWebhookStack, type WebhookStack } from './support.js';

/** How many endpoints the dispatcher delivers now (it holds their lease). */
async function owned(service: ServiceProcess): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${String(service.ready.adminPort)}/metrics`)).text();
  return Number(/^signal_webhooks_endpoints_owned (\d+)$/m.exec(text)?.[1] ?? NaN);
}

/** Every copy of an event is the same event: a redelivery, never a second transition. */
function expectOnlyRedeliveries(receiver: Receiver): void {
  const byId = new Map<string, string>();
  for (const e of receiver.events()) {
    const text = JSON.stringify(e);
    expect(byId.get(e.id) ?? text).toBe(text);
    byId.set(e.id, text);
  }
}

describe('dispatchers that die', () => {
  let receiver: Receiver;
  let stack: WebhookStack;
  /** The dispatcher left running after the mid-delivery kill. */
  let survivor: ServiceProcess;
  beforeAll(async () => {
    receiver = await Receiver.start();
    stack = await startWebhookStack([{ url: receiver.url, events: ['member_added', 'member_removed'] }], { dispatchers: 2 });
  });
  afterAll(async () => {
    await stack?.stop();
    await receiver?.stop();
  });

  it('two dispatchers: exactly one delivers the endpoint, and each transition is one event', async () => {
    await Promise.all([churn(stack, 'ann', 'shared-a', 5, 0), churn(stack, 'ben', 'shared-b', 5, 1), churn(stack, 'cat', 'shared-c', 5, 0)]);
    await passes(() => {
      for (const channel of ['shared-a', 'shared-b', 'shared-c']) expect(memberEvents(receiver, channel)).toEqual(expectedChurn(5));
    });
    expectOnlyRedeliveries(receiver);
    await passes(async () => expect((await Promise.all(stack.webhooks.map(owned))).sort()).toEqual([0, 1]));
  });

  it('with every dispatcher killed, what happens meanwhile is delivered once one starts again', async () => {
    await Promise.all(stack.webhooks.map((w) => w.kill()));
    await churn(stack, 'dan', 'while-down', 4, 1);
    await stack.startWebhooks();
    await passes(() => expect(memberEvents(receiver, 'while-down')).toEqual(expectedChurn(4)), 15_000);
    // And the events before the kill are not announced a second time as new transitions.
    for (const channel of ['shared-a', 'shared-b', 'shared-c']) expect(memberEvents(receiver, channel)).toEqual(expectedChurn(5));
    expectOnlyRedeliveries(receiver);
  });

  it('the dispatcher delivering the endpoint killed mid-delivery: its events are delivered by the other, in order', async () => {
    await stack.startWebhooks();
    const running = stack.webhooks.slice(-2);
    receiver.status = 503;
    await churn(stack, 'eve', 'mid-flight', 3, 0);
    await passes(() => expect(receiver.failures.some((r) => r.events.some((e) => e.channel === 'mid-flight'))).toBe(true));
    const counts = await passes(async () => {
      const now = await Promise.all(running.map(owned));
      expect([...now].sort()).toEqual([0, 1]);
      return now;
    });
    const victim = running[counts.indexOf(1)];
    survivor = running[counts.indexOf(0)]!;
    await victim!.kill();
    receiver.status = 200;
    await passes(() => expect(memberEvents(receiver, 'mid-flight')).toEqual(expectedChurn(3)), 30_000);
    expectOnlyRedeliveries(receiver);
  });

  it('SIGTERM: the dispatcher stops cleanly, and its successor resumes from its checkpoint without a lost or repeated transition', async () => {
    // The first two were killed, and the victim above; the survivor still runs.
    expect(await survivor.stop()).toBe(0);
    await churn(stack, 'fred', 'after-stop', 2, 1);
    const successor = await stack.startWebhooks();
    // It read the presence log from after the checkpoint its predecessor saved when it stopped.
    const from = successor.lines().map((l) => /"log":"signal_webhook_events_log_presence","from":(\d+)/.exec(l)?.[1]).find(Boolean);
    expect(Number(from)).toBeGreaterThan(1);
    await passes(() => expect(memberEvents(receiver, 'after-stop')).toEqual(expectedChurn(2)), 15_000);
    for (const channel of ['shared-a', 'shared-b', 'shared-c']) expect(memberEvents(receiver, channel)).toEqual(expectedChurn(5));
    expectOnlyRedeliveries(receiver);
  });
});

describe('events given up on', () => {
  let receiver: Receiver;
  let stack: WebhookStack;
  let nc: NatsConnection;
  beforeAll(async () => {
    receiver = await Receiver.start();
    receiver.status = 500;
    stack = await startWebhookStack([{ url: receiver.url, events: ['member_added', 'member_removed'] }], {
      webhooksEnv: { WEBHOOK_RETRY_PERIOD_MS: '1500' },
    });
    nc = await connect({ servers: stack.nats.url });
  });
  afterAll(async () => {
    await nc?.close();
    await stack?.stop();
    await receiver?.stop();
  });

  it('go to the dead-letter stream after the retry period, and a replay as docs/webhooks.md says delivers them', async () => {
    await churn(stack, 'fay', 'doomed', 1);
    const dead = await passes(async () => {
      const info = (await nc.request('$JS.API.STREAM.INFO.signal_webhook_events_dead')).json<{ state: { messages: number; first_seq: number } }>();
      expect(info.state.messages).toBe(2);
      return info.state;
    }, 20_000);
    receiver.status = 200;
    for (let seq = dead.first_seq; seq < dead.first_seq + 2; seq++) {
      const { message } = (await nc.request('$JS.API.STREAM.MSG.GET.signal_webhook_events_dead', JSON.stringify({ seq }))).json<{
        message: { hdrs: string; data: string };
      }>();
      const stored = Buffer.from(message.hdrs, 'base64').toString('utf8');
      const header = (name: string) => new RegExp(`^${name}: ?(.*)$`, 'mi').exec(stored)?.[1]?.trim();
      expect(header('Signal-Webhook-Error')).toBe('status 500');
      const h = headers();
      h.set('Signal-Webhook-Endpoint', header('Signal-Webhook-Endpoint')!);
      const ack = await nc.request(header('Signal-Webhook-Subject')!, Buffer.from(message.data, 'base64'), { headers: h, timeout: 5000 });
      expect(ack.json<{ seq?: number }>().seq).toBeGreaterThan(0);
    }
    await passes(() => expect(memberEvents(receiver, 'doomed')).toEqual(expectedChurn(1)), 15_000);
  });

  it('malformed events on the events stream, on any subject of the environment, are dropped and counted; the partitions go on', async () => {
    const app = stack.apps[0]!.id;
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    const hostile = ['not json', '[]', deep, JSON.stringify({ id: 'x', type: 'member_added', time: 'soon', app, env: 'test' }), JSON.stringify({ id: '', type: 'nope' })];
    // Every partition, and subjects no partition has (a lane each, dropped once empty).
    const subjects = [...['0', '1', '2', '3'], ...Array.from({ length: 50 }, (_, i) => `bogus${i}`)].map((p) => `signal_webhooks.${app}.test.${p}`);
    let sent = 0;
    for (const subject of subjects) {
      for (const body of hostile) {
        const ack = (await nc.request(subject, body, { timeout: 5000 })).json<{ seq?: number }>();
        expect(ack.seq).toBeGreaterThan(0);
        sent++;
      }
    }
    await churn(stack, 'hal', 'after-garbage', 2);
    await passes(() => expect(memberEvents(receiver, 'after-garbage')).toEqual(expectedChurn(2)), 15_000);
    const metrics = await (await fetch(`http://127.0.0.1:${String(stack.webhooks[0]!.ready.adminPort)}/metrics`)).text();
    const dropped = Number(/^signal_webhooks_dropped_messages_total\{source="webhook-events",reason="invalid"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
    expect(dropped).toBe(sent);
    expect(stack.webhooks[0]!.pid).toBeGreaterThan(0);
  });
});
