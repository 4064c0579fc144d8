import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { emitDirect, withHistory } from '../history/support.js';

import { client, next, record, sdkStack, waitFor } from './support.js';

const ctx = sdkStack({ gateways: 1, configureApps: withHistory(5, { directMessages: true }) });

describe('SDK direct-message recovery', () => {
  it('gets the direct messages to its user and device sent while its gateway was SIGKILLed, in order, on another gateway, then live ones', async () => {
    const doomed = await ctx.gateway();
    // Back after 0.5-1 s: the messages below go out while it is away.
    const ivy = client(ctx.stack, 'ivy', 'web', { url: [doomed.url, ctx.stack.gatewayUrl(0)], reconnect: { initialDelayMs: 1000 } });
    const got = record(ivy, 'message');
    const recoveries = record(ivy, 'recovery');
    await ivy.ready();
    expect(ivy.directPosition).toMatchObject({ offset: expect.any(Number), epoch: expect.any(String) });
    await emitDirect(ctx.stack, { user: 'ivy' }, 'before');
    await waitFor('the first message', () => got.length === 1);

    const disconnected = next(ivy, 'disconnected');
    await doomed.process.kill();
    await disconnected;
    const reconnected = next(ivy, 'connected');
    await emitDirect(ctx.stack, { user: 'ivy' }, 'invite');
    await emitDirect(ctx.stack, { device: 'ivy/web' }, 'ring');
    await emitDirect(ctx.stack, { user: 'ivy' }, 'cancel');
    await reconnected;
    expect(recoveries).toEqual([[{ recovered: true }]]);
    expect(got.map(([m]) => m.message)).toEqual(['before', 'invite', 'ring', 'cancel']);

    const live = await emitDirect(ctx.stack, { user: 'ivy' }, 'live');
    await waitFor('the live message', () => got.length === 5);
    expect(got.at(-1)![0].message).toBe('live');
    expect(ivy.directPosition).toEqual(live);
  });

  it('tells the app "not recovered" (window) when more was missed than the window keeps', async () => {
    const doomed = await ctx.gateway();
    let missedAll!: () => void;
    const missed = new Promise<void>((resolve) => (missedAll = resolve));
    // It reconnects only once everything below was sent.
    const url = async ({ attempt }: { attempt: number }) => (attempt === 0 ? doomed.url : (await missed, ctx.stack.gatewayUrl(0)));
    const jay = client(ctx.stack, 'jay', 'web', { url });
    const got = record(jay, 'message');
    await jay.ready();
    const recovery = next(jay, 'recovery');
    const disconnected = next(jay, 'disconnected');
    await doomed.process.kill();
    await disconnected;
    for (let i = 0; i < 6; i++) await emitDirect(ctx.stack, { user: 'jay' }, `missed-${i}`);
    missedAll();
    expect((await recovery)[0]).toEqual({ recovered: false, reason: 'window' });
    expect(got).toEqual([]);
  });

  it('tells the app "not recovered" (epoch) when the history stream was recreated while it was away, and takes the new position', async () => {
    const doomed = await ctx.gateway();
    let recreated!: () => void;
    const stored = new Promise<void>((resolve) => (recreated = resolve));
    // It reconnects only once the new stream holds a message.
    const url = async ({ attempt }: { attempt: number }) => (attempt === 0 ? doomed.url : (await stored, ctx.stack.gatewayUrl(0)));
    const kim = client(ctx.stack, 'kim', 'web', { url });
    const got = record(kim, 'message');
    await kim.ready();
    const before = kim.directPosition!;
    const recovery = next(kim, 'recovery');
    const disconnected = next(kim, 'disconnected');
    await doomed.process.kill();
    await disconnected;
    const nc = await connect({ servers: ctx.stack.nats.url });
    try {
      expect((await nc.request('$JS.API.STREAM.DELETE.SIGNAL_HISTORY_alpha_test')).json<{ success?: boolean }>().success).toBe(true);
    } finally {
      await nc.close();
    }
    // Stored in the stream the emit-api creates again: another epoch.
    await emitDirect(ctx.stack, { user: 'kim' }, 'lost to the app');
    recreated();
    expect((await recovery)[0]).toEqual({ recovered: false, reason: 'epoch' });
    expect(got).toEqual([]);
    expect(kim.directPosition!.epoch).not.toBe(before.epoch);
    await emitDirect(ctx.stack, { user: 'kim' }, 'live');
    await waitFor('the live message', () => got.length === 1);
  });
});
