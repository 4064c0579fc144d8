import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, sample, scrape } from '../support/admin.js';
import { RpcClient } from '../support/rpc-client.js';
import { mintToken, startStack, type Stack } from '../support/stack.js';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

async function member(s: Stack, identity: string): Promise<RpcClient> {
  const token = await mintToken(s, 'alpha', identity, 'web');
  const client = await RpcClient.connect(`${s.gatewayUrl(0)}/v1/connect?token=${token}`);
  await client.call('signal.join', { id: 'feed' });
  return client;
}

/** Stops reading from the socket: the kernel buffers fill, then the gateway's queue for it grows. */
function stall(client: RpcClient): () => void {
  const socket = (client.ws as unknown as { _socket: Socket })._socket;
  socket.pause();
  return () => socket.resume();
}

const FRAME = 'x'.repeat(32 * 1024);
/** The publisher here floods on purpose, far over the default publish rate (docs/limits.md). */
const UNLIMITED_PUBLISHES = { PUBLISH_RATE: '1000000', PUBLISH_BURST: '1000000', FRAME_RATE: '1000000', FRAME_BURST: '1000000' };

describe('a client that does not read', () => {
  it('falling behind gradually: is closed with 4008 once it catches up to the close frame; the others get every message', async () => {
    // 8 MiB bound: the clean close comes at 4 MiB queued, leaving seconds of headroom at this pace.
    stack = await startStack({ gateways: 1, gatewayEnv: { ...UNLIMITED_PUBLISHES, MAX_BACKPRESSURE_BYTES: String(8 * 1024 * 1024) } });
    const s = stack;
    const gateway = s.gateways[0]!;
    const publisher = await member(s, 'pub');
    const reader = await member(s, 'reader');
    const slow = await member(s, 'slow');
    const resume = stall(slow);

    // A steady ~1.3 MB/s, the way a busy feed outpaces a client on a bad link; the pace is the
    // scenario, not a wait.
    let sent = 0;
    let detected = false;
    while (!detected && sent < 2000) {
      publisher.notify('signal.publish', { id: 'feed', n: sent, pad: FRAME });
      sent++;
      await new Promise((resolve) => setTimeout(resolve, 25));
      if (sent % 20 === 0) detected = sample(await scrape(gateway), 'signal_gateway_slow_consumer_disconnects_total') === 1;
    }
    expect(detected).toBe(true);
    // Published after the gateway gave up on the slow client: the others get these, it must not.
    const sentBeforeClose = sent;
    for (; sent < sentBeforeClose + 10; sent++) publisher.notify('signal.publish', { id: 'feed', n: sent, pad: 'after' });

    resume();
    expect(await slow.closed).toEqual({ code: 4008, reason: 'slow consumer: too many bytes queued for this connection' });
    await eventually(() => reader.received('signal.publish').length === sent, `the reader to get all ${sent} messages`, 30_000);
    expect(reader.received('signal.publish').map((f) => f.params!.n)).toEqual([...Array(sent).keys()]);
    // What it did get before the close frame is an unbroken, in-order prefix.
    const slowGot = slow.received('signal.publish').map((f) => f.params!.n);
    expect(slowGot.length).toBeLessThanOrEqual(sentBeforeClose);
    expect(slowGot).toEqual([...Array(slowGot.length).keys()]);
    expect(gateway.lines().some((l) => l.includes('"msg":"slow consumer disconnected"'))).toBe(true);
    const metrics = await scrape(gateway);
    expect(sample(metrics, 'signal_gateway_connections_closed_total', { code: '4008' })).toBe(1);
    expect(sample(metrics, 'signal_gateway_connections')).toBe(2);
  });

  it('flooded: its queue is cut at MAX_BACKPRESSURE_BYTES at once, and the others still get every message', async () => {
    stack = await startStack({ gateways: 1, gatewayEnv: { ...UNLIMITED_PUBLISHES, MAX_BACKPRESSURE_BYTES: String(1024 * 1024) } });
    const s = stack;
    const gateway = s.gateways[0]!;
    const publisher = await member(s, 'pub');
    const reader = await member(s, 'reader');
    const slow = await member(s, 'slow');
    const resume = stall(slow);

    // 16 MB at ~13 MB/s: far past what the kernel buffers plus the bound hold within a second,
    // in bursts a reading client absorbs.
    const flood = 500;
    for (let n = 0; n < flood; n++) {
      publisher.notify('signal.publish', { id: 'feed', n, pad: FRAME });
      if (n % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await eventually(async () => sample(await scrape(gateway), 'signal_gateway_connections') === 2, 'the slow client to be disconnected');
    // Published after the cut: the others get these, the slow client cannot.
    const sent = flood + 10;
    for (let n = flood; n < sent; n++) publisher.notify('signal.publish', { id: 'feed', n, pad: 'after' });
    await eventually(() => reader.received('signal.publish').length === sent, `the reader to get all ${sent} messages`, 30_000);
    expect(reader.received('signal.publish').map((f) => f.params!.n)).toEqual([...Array(sent).keys()]);

    resume();
    // Cut without a close frame (1006); if the once-a-second check got there first, closed cleanly (4008).
    expect([1006, 4008]).toContain((await slow.closed).code);
    const slowGot = slow.received('signal.publish').map((f) => f.params!.n);
    expect(slowGot.length).toBeLessThanOrEqual(flood);
    expect(slowGot).toEqual([...Array(slowGot.length).keys()]);
  });
});
