import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { emitTo, withHistory } from '../history/support.js';
import { sample, scrape } from '../support/admin.js';
import { emit, keysOf } from '../support/stack.js';
import { client, next, record, sdkStack, waitFor } from './support.js';

const ctx = sdkStack({ gateways: 1, configureApps: withHistory(100) });

describe('SDK recovery', () => {
  it('recovers every message published while its gateway was SIGKILLed, in order, without duplicates, on another gateway', async () => {
    const doomed = await ctx.gateway();
    // Back after 0.5-1 s: the publisher goes on meanwhile, so there is something to recover.
    const alice = client(ctx.stack, 'alice', 'web', { url: [doomed.url, ctx.stack.gatewayUrl(0)], reconnect: { initialDelayMs: 1000 } });
    const room = alice.join('hist-kill');
    await room.joined;
    const got = record(room, 'message');
    const recoveries = record(room, 'recovery');
    expect(room.position).toMatchObject({ offset: expect.any(Number), epoch: expect.any(String) });

    const total = 60;
    const disconnected = next(alice, 'disconnected');
    const publishing = (async () => {
      for (let i = 0; i < total; i++) {
        // The second half goes out once the client knows its gateway is gone.
        if (i === total / 2) await disconnected;
        await emitTo(ctx.stack, 'hist-kill', i);
      }
    })();
    await waitFor('the first messages', () => got.length >= 10);
    const reconnected = next(alice, 'connected');
    await doomed.process.kill();
    await publishing;
    await reconnected;
    await waitFor('every message', () => got.length >= total);

    expect(got.map(([message]) => message.message)).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(recoveries).toEqual([[{ recovered: true }]]);
    expect(sample(await scrape(ctx.stack.gateways[0]!), 'signal_gateway_recovered_messages_total')).toBeGreaterThan(0);
    expect(room.position!.offset).toBeGreaterThanOrEqual((got.at(-1)![0].position as { offset: number }).offset);
  });

  it('tells the app "not recovered" (window) when more was missed than the channel keeps, and goes on live', async () => {
    const doomed = await ctx.gateway();
    const alice = client(ctx.stack, 'alice', 'web', { url: [doomed.url, ctx.stack.gatewayUrl(0)] });
    const room = alice.join('hist-window');
    await room.joined;
    const got = record(room, 'message');
    await emitTo(ctx.stack, 'hist-window', 'seen');
    await waitFor('the first message', () => got.length === 1);

    const recovery = next(room, 'recovery');
    const disconnected = next(alice, 'disconnected');
    await doomed.process.kill();
    await disconnected;
    // The window keeps 100 per channel: 101 missed cannot all be there.
    const { status } = await emit(ctx.stack, '/v1/signals', keysOf(ctx.stack, 'alpha').secretKey, {
      signals: Array.from({ length: 100 }, (_, i) => ({ to: { channel: 'hist-window' }, event: 'e', message: `missed-${i}` })),
    });
    expect(status).toBe(202);
    await emitTo(ctx.stack, 'hist-window', 'missed-100');

    expect((await recovery)[0]).toEqual({ recovered: false, reason: 'window' });
    await emitTo(ctx.stack, 'hist-window', 'live');
    await waitFor('the live message', () => got.some(([m]) => m.message === 'live'));
    expect(got.map(([m]) => m.message)).toEqual(['seen', 'live']);
  });

  it('tells the app "not recovered" (epoch) when the history stream was recreated while it was away', async () => {
    const doomed = await ctx.gateway();
    const alice = client(ctx.stack, 'alice', 'web', { url: [doomed.url, ctx.stack.gatewayUrl(0)] });
    const room = alice.join('hist-epoch');
    await room.joined;
    const got = record(room, 'message');
    await emitTo(ctx.stack, 'hist-epoch', 'before');
    await waitFor('the first message', () => got.length === 1);
    const before = room.position!;

    const recovery = next(room, 'recovery');
    const disconnected = next(alice, 'disconnected');
    await doomed.process.kill();
    await disconnected;
    const nc = await connect({ servers: ctx.stack.nats.url });
    try {
      const answer = (await nc.request('$JS.API.STREAM.DELETE.SIGNAL_HISTORY_alpha_test')).json<{ success?: boolean }>();
      expect(answer.success).toBe(true);
    } finally {
      await nc.close();
    }
    await emitTo(ctx.stack, 'hist-epoch', 'lost to the app');

    const [outcome] = await recovery;
    expect(outcome).toEqual({ recovered: false, reason: 'epoch' });
    expect(room.position!.epoch).not.toBe(before.epoch);
    await emitTo(ctx.stack, 'hist-epoch', 'live');
    await waitFor('the live message', () => got.some(([m]) => m.message === 'live'));
    expect(got.map(([m]) => m.message)).toEqual(['before', 'live']);
  });
});
