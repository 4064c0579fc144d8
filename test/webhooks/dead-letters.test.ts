import { writeFileSync } from 'node:fs';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { webhookEndpointId } from '@signal/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passes } from '../support/poll.js';
import { connectNative, emit, keysOf } from '../support/stack.js';
import { Receiver, SECRET, churn, expectedChurn, memberEvents, startWebhookStack, type WebhookEvent, type WebhookStack } from './support.js';

interface DeadLetter {
  id: number;
  endpoint: string;
  attempts: number;
  error: string;
  deadAt: number;
  event: WebhookEvent;
}

const MEMBER_EVENTS = ['member_added', 'member_removed'];

describe('webhook dead letters through the emit-api', () => {
  let down: Receiver;
  let failing: Receiver;
  let stack: WebhookStack;
  let nc: NatsConnection;
  const key = (app: 'alpha' | 'beta', env: 'test' | 'live' = 'test') => keysOf(stack, app, env).secretKey;
  const list = async (secretKey: string, query = '') => {
    const res = await fetch(`${stack.emitUrl}/v1/webhooks/dead-letters${query}`, { headers: { authorization: `Bearer ${secretKey}` } });
    return { status: res.status, body: (await res.json()) as { deadLetters: DeadLetter[]; next: number | null; code?: string; message?: string } };
  };
  const replay = (secretKey: string | undefined, body: unknown) => emit(stack, '/v1/webhooks/dead-letters/replay', secretKey, body);

  beforeAll(async () => {
    // alpha/test's endpoint is down (connections refused); alpha/live's answers 500.
    down = await Receiver.start();
    failing = await Receiver.start();
    failing.status = 500;
    const port = Number(new URL(down.url).port);
    await down.stop();
    stack = await startWebhookStack([{ url: `http://127.0.0.1:${port}/hooks`, events: MEMBER_EVENTS }], {
      configureApps: (apps) => {
        apps[0]!.environments.live!.webhooks = [{ url: failing.url, secrets: [SECRET], events: MEMBER_EVENTS as never }];
      },
      webhooksEnv: { WEBHOOK_RETRY_PERIOD_MS: '1500' },
    });
    nc = await connect({ servers: stack.nats.url });
  });
  afterAll(async () => {
    await nc?.close();
    await stack?.stop();
    await failing?.stop();
    await down?.stop();
  });

  it('lists only the caller environment’s dead letters, paged, oldest first', async () => {
    await churn(stack, 'dora', 'doomed', 2);
    const live = await connectNative(stack, { identity: 'lena', device: 'web', gateway: 1, env: 'live' });
    await live.call('signal.join', { id: 'live-doomed', presence: true });
    await live.call('signal.leave', { id: 'live-doomed' });
    live.close();
    await passes(async () => {
      const info = (await nc.request('$JS.API.STREAM.INFO.signal_webhook_events_dead')).json<{ state: { messages: number } }>();
      expect(info.state.messages).toBe(6);
    }, 30_000);

    const first = await list(key('alpha'), '?limit=3');
    expect(first.status).toBe(200);
    expect(first.body.deadLetters).toHaveLength(3);
    expect(first.body.next).toBe(first.body.deadLetters[2]!.id);
    const rest = await list(key('alpha'), `?limit=3&after=${first.body.next}`);
    expect(rest.body).toMatchObject({ next: null });
    const all = [...first.body.deadLetters, ...rest.body.deadLetters];
    const port = Number(new URL(down.url).port);
    expect(all.map((d) => `${d.event.type === 'member_added' ? '+' : '-'}${JSON.stringify(d.event.member!.state)}`)).toEqual(expectedChurn(2));
    for (const d of all) {
      expect(d).toMatchObject({ endpoint: webhookEndpointId(`http://127.0.0.1:${port}/hooks`), error: 'ECONNREFUSED', event: { app: 'alpha', env: 'test', channel: 'doomed' } });
      // The first was tried until the retry period ended; those waiting behind it, past it by then, once.
      expect(d.attempts).toBeGreaterThanOrEqual(1);
      expect(Math.abs(d.deadAt - Date.now())).toBeLessThan(60_000);
    }
    expect(all[0]!.attempts).toBeGreaterThan(1);
    expect((await list(key('alpha'), `?endpoint=${all[0]!.endpoint}`)).body.deadLetters).toHaveLength(4);
    expect((await list(key('alpha'), `?endpoint=${webhookEndpointId(failing.url)}`)).body.deadLetters).toEqual([]);

    const liveLetters = (await list(key('alpha', 'live'))).body.deadLetters;
    expect(liveLetters.map((d) => `${d.event.env} ${d.event.channel} ${d.error}`)).toEqual(['live live-doomed status 500', 'live live-doomed status 500']);
    expect((await list(key('beta'))).body).toEqual({ deadLetters: [], next: null });
  });

  it("one environment's key can neither see nor replay another's", async () => {
    const ids = (await list(key('alpha'))).body.deadLetters.map((d) => d.id);
    const answer = await replay(key('alpha', 'live'), { ids });
    expect(answer).toEqual({ status: 200, body: { replayed: [], notFound: ids, endpointGone: [], more: false } });
    expect((await replay(key('beta'), { all: true })).body).toEqual({ replayed: [], notFound: [], endpointGone: [], more: false });
    expect((await list(key('alpha'))).body.deadLetters.map((d) => d.id)).toEqual(ids);
  });

  it('refuses bad requests with a specific error', async () => {
    const cases: Array<[string | undefined, unknown, number, string]> = [
      [key('alpha'), {}, 400, 'body must be {ids: [dead letter ids]} or {all: true, endpoint?}'],
      [key('alpha'), { ids: [1], all: true }, 400, 'body must be'],
      [key('alpha'), { ids: [] }, 400, "'ids': must list at least one id"],
      [key('alpha'), { ids: [0] }, 400, "'ids.0'"],
      [key('alpha'), { all: true, endpoint: 'not-an-id' }, 400, "'endpoint': must be an endpoint id"],
      [keysOf(stack, 'alpha').publishableKey, { all: true }, 403, 'publishable key'],
      [undefined, { all: true }, 401, 'secret'],
    ];
    for (const [secretKey, body, status, message] of cases) {
      const answer = await replay(secretKey, body);
      expect(answer.status, JSON.stringify(body)).toBe(status);
      expect(JSON.stringify(answer.body)).toContain(message);
    }
    const badQuery = await list(key('alpha'), '?limit=1000');
    expect(badQuery.status).toBe(400);
    expect(badQuery.body).toMatchObject({ code: 'bad_request', message: 'limit: must be 1 to 100' });
    expect((await list(key('alpha'), '?endpoint=ABC')).status).toBe(400);
  });

  it('a replay delivers them once, signed, in order, and removes them', async () => {
    const port = Number(new URL(down.url).port);
    down = await Receiver.start(SECRET, port);
    const ids = (await list(key('alpha'))).body.deadLetters.map((d) => d.id);
    expect(await replay(key('alpha'), { all: true })).toEqual({ status: 200, body: { replayed: ids, notFound: [], endpointGone: [], more: false } });
    await passes(() => expect(memberEvents(down, 'doomed')).toEqual(expectedChurn(2)));
    expect((await list(key('alpha'))).body.deadLetters).toEqual([]);
    // Replayed again (a retry whose answer was lost): nothing left, nothing sent twice.
    expect((await replay(key('alpha'), { ids })).body).toEqual({ replayed: [], notFound: ids, endpointGone: [], more: false });
    // A marker event proves the dispatcher got past anything a second copy would have been.
    await churn(stack, 'mark', 'after-replay', 1);
    await passes(() => expect(memberEvents(down, 'after-replay')).toEqual(expectedChurn(1)));
    expect(down.events().filter((e) => e.channel === 'doomed')).toHaveLength(4);
    expect(down.failures).toEqual([]);
    // The other environment's are still there, for its own key.
    expect((await list(key('alpha', 'live'))).body.deadLetters).toHaveLength(2);
  });

  it('dead letters of an endpoint removed from the apps file are not replayed (no dispatcher would deliver them) and stay', async () => {
    const ids = (await list(key('alpha', 'live'))).body.deadLetters.map((d) => d.id);
    delete stack.apps[0]!.environments.live!.webhooks;
    writeFileSync(stack.appsFile, JSON.stringify({ apps: stack.apps }));
    await stack.emitApi.waitForLine((l) => l.includes('"msg":"apps file reloaded"'), 10_000);
    expect((await replay(key('alpha', 'live'), { ids })).body).toEqual({ replayed: [], notFound: [], endpointGone: ids, more: false });
    expect((await replay(key('alpha', 'live'), { all: true })).body).toEqual({ replayed: [], notFound: [], endpointGone: ids, more: false });
    expect((await list(key('alpha', 'live'))).body.deadLetters.map((d) => d.id)).toEqual(ids);
  });
});
