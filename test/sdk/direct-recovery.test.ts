import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { emitDirect, withHistory } from '../history/support.js';
import { startStack, type Stack } from '../support/stack.js';
import { client, closeClients, next, record, startGateway, waitFor, type Gateway } from './support.js';

let stack: Stack;
const extra: Gateway[] = [];

/** Alpha's test environment keeps direct messages: 5 per user and per device. */
beforeAll(async () => {
  stack = await startStack({ gateways: 1, configureApps: withHistory(5, { directMessages: true }) });
});
afterEach(async () => {
  closeClients();
  await Promise.all(extra.splice(0).map((g) => g.process.stop('SIGKILL')));
});
afterAll(async () => {
  await stack?.stop();
});

async function doomedGateway(): Promise<Gateway> {
  const g = await startGateway(stack);
  extra.push(g);
  return g;
}

describe('SDK direct-message recovery', () => {
  it('gets the direct messages to its user and device sent while its gateway was SIGKILLed, in order, on another gateway, then live ones', async () => {
    const doomed = await doomedGateway();
    // Back after 0.5-1 s: the messages below go out while it is away.
    const ivy = client(stack, 'ivy', 'web', { url: [doomed.url, stack.gatewayUrl(0)], reconnect: { initialDelayMs: 1000 } });
    const got = record(ivy, 'message');
    const recoveries = record(ivy, 'recovery');
    await ivy.ready();
    expect(ivy.directPosition).toMatchObject({ offset: expect.any(Number), epoch: expect.any(String) });
    await emitDirect(stack, { user: 'ivy' }, 'before');
    await waitFor('the first message', () => got.length === 1);

    const disconnected = next(ivy, 'disconnected');
    await doomed.process.kill();
    await disconnected;
    const reconnected = next(ivy, 'connected');
    await emitDirect(stack, { user: 'ivy' }, 'invite');
    await emitDirect(stack, { device: 'ivy/web' }, 'ring');
    await emitDirect(stack, { user: 'ivy' }, 'cancel');
    await reconnected;
    expect(recoveries).toEqual([[{ recovered: true }]]);
    expect(got.map(([m]) => m.message)).toEqual(['before', 'invite', 'ring', 'cancel']);

    const live = await emitDirect(stack, { user: 'ivy' }, 'live');
    await waitFor('the live message', () => got.length === 5);
    expect(got.at(-1)![0].message).toBe('live');
    expect(ivy.directPosition).toEqual(live);
  });

  it('tells the app "not recovered" (window) when more was missed than the window keeps', async () => {
    const doomed = await doomedGateway();
    let missedAll!: () => void;
    const missed = new Promise<void>((resolve) => (missedAll = resolve));
    // It reconnects only once everything below was sent.
    const url = async ({ attempt }: { attempt: number }) => (attempt === 0 ? doomed.url : (await missed, stack.gatewayUrl(0)));
    const jay = client(stack, 'jay', 'web', { url });
    const got = record(jay, 'message');
    await jay.ready();
    const recovery = next(jay, 'recovery');
    const disconnected = next(jay, 'disconnected');
    await doomed.process.kill();
    await disconnected;
    for (let i = 0; i < 6; i++) await emitDirect(stack, { user: 'jay' }, `missed-${i}`);
    missedAll();
    expect((await recovery)[0]).toEqual({ recovered: false, reason: 'window' });
    expect(got).toEqual([]);
  });

  it('tells the app "not recovered" (epoch) when the history stream was recreated while it was away, and takes the new position', async () => {
    const doomed = await doomedGateway();
    let recreated!: () => void;
    const stored = new Promise<void>((resolve) => (recreated = resolve));
    // It reconnects only once the new stream holds a message.
    const url = async ({ attempt }: { attempt: number }) => (attempt === 0 ? doomed.url : (await stored, stack.gatewayUrl(0)));
    const kim = client(stack, 'kim', 'web', { url });
    const got = record(kim, 'message');
    await kim.ready();
    const before = kim.directPosition!;
    const recovery = next(kim, 'recovery');
    const disconnected = next(kim, 'disconnected');
    await doomed.process.kill();
    await disconnected;
    const nc = await connect({ servers: stack.nats.url });
    try {
      expect((await nc.request('$JS.API.STREAM.DELETE.SIGNAL_HISTORY_alpha_test')).json<{ success?: boolean }>().success).toBe(true);
    } finally {
      await nc.close();
    }
    // Stored in the stream the emit-api creates again: another epoch.
    await emitDirect(stack, { user: 'kim' }, 'lost to the app');
    recreated();
    expect((await recovery)[0]).toEqual({ recovered: false, reason: 'epoch' });
    expect(got).toEqual([]);
    expect(kim.directPosition!.epoch).not.toBe(before.epoch);
    await emitDirect(stack, { user: 'kim' }, 'live');
    await waitFor('the live message', () => got.length === 1);
  });
});
