import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Signal, SignalClientError } from '@signal/client';
import { emit, keysOf, startStack, type Stack } from '../support/stack.js';
import { anonymousClient, client, closeClients, next } from './support.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 2 });
});
afterEach(() => closeClients());
afterAll(async () => {
  await stack?.stop();
});

describe('an anonymous client ({ publishableKey })', () => {
  it('joins a channel and receives what users publish and backends emit, on any gateway', async () => {
    const viewer = anonymousClient(stack, { gateway: 1 });
    await viewer.ready();
    expect(viewer.anonymous).toBe(true);
    expect(viewer.address).toMatch(/^\$anon\/\$anon\/[a-z0-9]+-[a-z0-9]+$/);
    const scores = viewer.join('scores');
    await scores.joined;

    const reporter = client(stack, 'reporter', 'desk');
    const channel = reporter.join('scores');
    await channel.joined;
    const published = next(scores, 'message');
    await channel.publish({ goal: 1 }, { ack: true });
    expect((await published)[0]).toMatchObject({ from: reporter.address, id: 'scores', goal: 1 });

    const emitted = next(scores, 'message');
    const { status } = await emit(stack, '/v1/signals', keysOf(stack, 'alpha').secretKey, { to: { channel: 'scores' }, event: 'final', message: { home: 2 } });
    expect(status).toBe(202);
    expect((await emitted)[0]).toMatchObject({ event: 'final', message: { home: 2 } });
  });

  it('is refused, with forbidden, whatever would speak or show it', async () => {
    const viewer = anonymousClient(stack);
    const scores = viewer.join('scores');
    await scores.joined;
    await expect(scores.publish({ boo: true }, { ack: true })).rejects.toMatchObject({ code: 'forbidden', channel: 'scores', operation: 'publish' });
    await expect(viewer.send({ to: 'reporter', message: 'hi' }, { ack: true })).rejects.toMatchObject({ code: 'forbidden', operation: 'send' });
    await expect(viewer.join('lobby', { presence: true }).joined).rejects.toMatchObject({ code: 'forbidden', channel: 'lobby', operation: 'presence' });
    expect(() => viewer.update('a.b.c')).toThrow(/publishable key; create a Signal with a user token/);
    expect(viewer.state).toBe('connected');
  });

  it('gives up at once on a key the gateway does not know, and says so', async () => {
    const viewer = anonymousClient(stack, { publishableKey: 'pubk_test_' + 'x'.repeat(32) });
    const error = await viewer.ready().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SignalClientError);
    expect(error).toMatchObject({ code: 'unauthorized' });
    expect((error as Error).message).toMatch(/does not know this publishable key/);
    expect(viewer.state).toBe('disconnected');
  });

  it('refuses a secret key or a missing URL before connecting', () => {
    const url = stack.gatewayUrl(0);
    expect(() => new Signal({ publishableKey: keysOf(stack, 'alpha').secretKey }, { url, WebSocket })).toThrow(/secret keys \(seck_\) belong on your backend only/);
    expect(() => new Signal({ publishableKey: keysOf(stack, 'alpha').publishableKey }, { WebSocket })).toThrow(/options.url is required with a publishable key/);
  });
});
