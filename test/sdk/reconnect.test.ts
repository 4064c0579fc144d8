import { describe, expect, it } from 'vitest';
import { freePort, startService } from '@signal/harness';
import { GATEWAY_ENTRY, serviceEnv } from '../support/stack.js';
import { client, next, record, sdkStack, waitFor } from './support.js';

// gateway 0 stays up for the whole file; tests kill or stop gateways of their own.
const ctx = sdkStack({ gateways: 1 });

describe('failover', () => {
  it('moves to the next gateway when its gateway is killed, rejoins, and delivers what was sent meanwhile', async () => {
    const doomed = await ctx.gateway();
    const alice = client(ctx.stack, 'alice', 'web', { url: [doomed.url, ctx.stack.gatewayUrl(0)] });
    const bob = client(ctx.stack, 'bob', 'web', { gateway: 0 });
    const roomA = alice.join('failover');
    const roomB = bob.join('failover');
    await Promise.all([roomA.joined, roomB.joined, alice.ready()]);
    const before = alice.address!;
    expect(before).toMatch(new RegExp(`^alice/web/${String(doomed.process.ready.node)}-`));

    const disconnected = next(alice, 'disconnected');
    const connecting = record(alice, 'connecting');
    const connected = next(alice, 'connected');
    await doomed.process.kill();
    const [lost] = await disconnected;
    expect(lost).toMatchObject({ code: 1006, willReconnect: true });
    expect(alice.state).toBe('reconnecting');

    // Made while away: queued, then sent once the channel is rejoined.
    const bobGot = record(roomB, 'message');
    const bobDirect = record(bob, 'message');
    roomA.publish({ text: 'sent while away' });
    alice.send({ to: 'bob', text: 'direct while away' });

    const [info] = await connected;
    expect(info.reconnected).toBe(true);
    expect(connecting.at(-1)![0].url).toBe(ctx.stack.gatewayUrl(0));
    expect(alice.address).not.toBe(before);
    expect(alice.channels.get('failover')).toBe(roomA);
    expect(roomA.isJoined).toBe(true);
    await waitFor('the queued messages at bob', () => bobGot.length === 1 && bobDirect.length === 1);
    expect(bobGot[0]![0]).toMatchObject({ text: 'sent while away', from: alice.address });
    expect(bobDirect[0]![0]).toMatchObject({ text: 'direct while away', from: alice.address });

    // The rejoined channel delivers both ways.
    const aliceGot = next(roomA, 'message');
    roomB.publish({ text: 'welcome back' });
    expect((await aliceGot)[0]).toMatchObject({ text: 'welcome back', from: bob.address });
  });

  it('reconnects at once, without backoff, when the gateway shuts down gracefully (1001)', async () => {
    const leaving = await ctx.gateway();
    const alice = client(ctx.stack, 'alice', 'web', { url: [leaving.url, ctx.stack.gatewayUrl(0)], reconnect: { initialDelayMs: 5000 } });
    await alice.ready();
    const events: string[] = [];
    alice.on('disconnected', (d) => events.push(`disconnected ${d.code}`));
    alice.on('reconnecting', () => events.push('reconnecting'));
    alice.on('connecting', (c) => events.push(`connecting ${c.url === ctx.stack.gatewayUrl(0) ? 'other' : 'same'}`));
    alice.on('connected', () => events.push('connected'));
    const connected = next(alice, 'connected');
    await leaving.process.stop('SIGTERM');
    await connected;
    expect(events).toEqual(['disconnected 1001', 'connecting other', 'connected']);
  });

  it('notices a gateway that stopped answering (no close at all) and fails over', async () => {
    const frozen = await ctx.gateway();
    const alice = client(ctx.stack, 'alice', 'web', { url: [frozen.url, ctx.stack.gatewayUrl(0)], pingIntervalMs: 300, pongTimeoutMs: 1000 });
    await alice.ready();
    const disconnected = next(alice, 'disconnected');
    const connected = next(alice, 'connected');
    process.kill(frozen.process.pid, 'SIGSTOP');
    try {
      const [lost] = await disconnected;
      expect(lost).toMatchObject({ code: 4000, reason: 'the gateway did not answer a ping within 1000 ms', willReconnect: true });
      await connected;
      expect(alice.address).toMatch(new RegExp(`/${String(ctx.stack.gateways[0]!.ready.node)}-`));
    } finally {
      process.kill(frozen.process.pid, 'SIGCONT');
    }
  });

  it('asks a url function before every attempt', async () => {
    const seen: Array<{ attempt: number; previous: string | undefined }> = [];
    const deadPort = await freePort();
    const alice = client(ctx.stack, 'alice', 'web', {
      url: (request) => {
        seen.push(request);
        return request.attempt < 2 ? `ws://127.0.0.1:${deadPort}` : ctx.stack.gatewayUrl(0);
      },
      reconnect: { initialDelayMs: 20 },
    });
    await alice.ready();
    expect(seen).toEqual([
      { attempt: 0, previous: undefined },
      { attempt: 1, previous: `ws://127.0.0.1:${deadPort}` },
      { attempt: 2, previous: `ws://127.0.0.1:${deadPort}` },
    ]);
  });
});

describe('backoff', () => {
  it('retries with jittered, growing delays until a gateway comes up, then connects', async () => {
    const port = await freePort();
    const alice = client(ctx.stack, 'alice', 'web', { url: `ws://127.0.0.1:${port}`, reconnect: { initialDelayMs: 40, maxDelayMs: 400 } });
    const retries = record(alice, 'reconnecting');
    await waitFor('five failed attempts', () => retries.length >= 5);
    expect(alice.state).toBe('reconnecting');
    const delays = retries.slice(0, 5).map(([r]) => r.delayMs);
    const steps = [40, 80, 160, 320, 400];
    delays.forEach((delay, i) => {
      expect(delay).toBeGreaterThanOrEqual(steps[i]! / 2);
      expect(delay).toBeLessThanOrEqual(steps[i]!);
    });
    expect(retries.map(([r]) => r.attempt).slice(0, 5)).toEqual([1, 2, 3, 4, 5]);
    expect(retries[0]![0].error).toMatchObject({ code: 'unavailable' });

    const late = await startService({
      entry: GATEWAY_ENTRY,
      name: 'late-gateway',
      env: { ...serviceEnv(ctx.stack), PORT: String(port) },
    });
    ctx.adopt({ process: late, url: `ws://127.0.0.1:${port}` });
    await alice.ready();
    expect(alice.state).toBe('connected');
  });

  it('gives up after maxAttempts, rejecting ready() and reporting why', async () => {
    const port = await freePort();
    const alice = client(ctx.stack, 'alice', 'web', { url: `ws://127.0.0.1:${port}`, reconnect: { initialDelayMs: 10, maxAttempts: 2 } });
    const errors = record(alice, 'error');
    const attempts = record(alice, 'connecting');
    const ready = alice.ready();
    await expect(ready).rejects.toMatchObject({ code: 'unavailable', message: expect.stringMatching(/^gave up after 2 failed attempts/) });
    expect(alice.state).toBe('disconnected');
    expect(errors).toHaveLength(1);
    expect(attempts).toHaveLength(2);
  });
});

describe('requests in flight', () => {
  it('reject with disconnected when the connection drops before the answer', async () => {
    const doomed = await ctx.gateway();
    const alice = client(ctx.stack, 'alice', 'web', { url: [doomed.url, ctx.stack.gatewayUrl(0)] });
    await alice.ready();
    // SIGSTOP first, so the request is surely sent and surely unanswered when the connection dies.
    process.kill(doomed.process.pid, 'SIGSTOP');
    const outcome = expect(alice.send({ to: 'nobody' }, { ack: true })).rejects.toMatchObject({
      code: 'disconnected',
      message: expect.stringMatching(/may or may not have been applied/),
    });
    await doomed.process.kill();
    await outcome;
    await alice.ready();
  });
});
