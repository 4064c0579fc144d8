import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passes } from '../support/poll.js';
import { sample, scrape } from '../support/admin.js';
import { RpcClient, type Frame } from '../support/rpc-client.js';
import { connectNative, keysOf, mintToken, startStack, type Stack } from '../support/stack.js';
import { refusals } from './support.js';

/**
 * Per-connection limits (docs/limits.md, "Gateway: per-connection requests"): channel counts
 * and join, publish and send rates, with small values so a burst of frames sent back to back
 * crosses them. Nothing here waits between frames except for a refill, which is retried.
 */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    gateways: 1,
    gatewayEnv: {
      MAX_CHANNELS_PER_CONNECTION: '3',
      MAX_PRESENCE_CHANNELS_PER_CONNECTION: '2',
      JOIN_RATE: '5',
      JOIN_BURST: '5',
      PUBLISH_RATE: '5',
      PUBLISH_BURST: '5',
      SEND_RATE: '5',
      SEND_BURST: '5',
      RATE_LIMIT_CLOSE_AFTER: '3',
    },
  });
});
afterAll(async () => {
  await stack?.stop();
});

const gateway = () => stack.gateways[0]!;
let ids = 1_000;

/** Sends every request in one go, then collects their answers in order. */
async function burst(client: RpcClient, calls: Array<[method: string, params: Record<string, unknown>]>): Promise<Frame[]> {
  const sent = calls.map(([method, params]) => ({ jsonrpc: '2.0', id: ++ids, method, params }));
  for (const frame of sent) client.ws.send(JSON.stringify(frame));
  return Promise.all(sent.map((frame) => client.next((f) => f.id === frame.id && f.method === undefined)));
}

const codes = (frames: Frame[]) => frames.map((f) => f.error?.data?.code ?? 'ok');
const anonymous = () => RpcClient.connect(`${stack.gatewayUrl()}/v1/connect?key=${keysOf(stack, 'alpha').publishableKey}`);

describe('channels per connection', () => {
  it('MAX_CHANNELS_PER_CONNECTION: the limit is joined, one more is refused, a leave makes room', async () => {
    const client = await anonymous();
    const before = await refusals(gateway(), 'max_channels_per_connection');
    const frames = await burst(client, [
      ['signal.join', { id: 'c1' }],
      ['signal.join', { id: 'c2' }],
      ['signal.join', { id: 'c3' }],
      ['signal.join', { id: 'c4' }],
    ]);
    expect(codes(frames)).toEqual(['ok', 'ok', 'ok', 'limit_exceeded']);
    expect(frames[3]!.error).toMatchObject({ code: -32029, data: { code: 'limit_exceeded', field: 'id' } });
    expect(frames[3]!.error!.message).toMatch(/in 3 channels, the most allowed \(MAX_CHANNELS_PER_CONNECTION\)/);
    expect(await refusals(gateway(), 'max_channels_per_connection')).toBe(before + 1);
    expect(codes(await burst(client, [['signal.leave', { id: 'c3' }], ['signal.join', { id: 'c4' }]]))).toEqual(['ok', 'ok']);
    client.close();
  });

  it('MAX_PRESENCE_CHANNELS_PER_CONNECTION: presence channels count apart, and towards all channels', async () => {
    const client = await connectNative(stack, { identity: 'usr_pres', device: 'd', gateway: 0 });
    const frames = await burst(client, [
      ['signal.join', { id: 'p1', presence: true }],
      ['signal.join', { id: 'p2', presence: true }],
      ['signal.join', { id: 'p3', presence: true }],
      ['signal.join', { id: 'plain' }],
      ['signal.join', { id: 'plain2' }],
    ]);
    expect(codes(frames)).toEqual(['ok', 'ok', 'limit_exceeded', 'ok', 'limit_exceeded']);
    expect(frames[2]!.error!.message).toMatch(/in 2 presence channels, the most allowed \(MAX_PRESENCE_CHANNELS_PER_CONNECTION\)/);
    expect(frames[4]!.error!.message).toMatch(/\(MAX_CHANNELS_PER_CONNECTION\)/);
    expect(await refusals(gateway(), 'max_presence_channels_per_connection')).toBe(1);
    client.close();
  });

  it('a receive-only connection joining in a burst gets its channels, then refusals, then 4029', async () => {
    const client = await anonymous();
    const before = await scrape(gateway());
    for (let i = 0; i < 200; i++) client.ws.send(JSON.stringify({ jsonrpc: '2.0', id: i, method: 'signal.join', params: { id: `flood-${i}` } }));
    expect(await client.closed).toMatchObject({ code: 4029 });
    const answers = client.frames.filter((f) => typeof f.id === 'number');
    // Five tokens: three channels joined, two refused for the channel limit; then three rate refusals
    // and out. Refusals are answered at once; the joins' answers wait for NATS and may miss the close.
    expect(codes(answers).filter((c) => c !== 'ok')).toEqual(['limit_exceeded', 'limit_exceeded', 'rate_limited', 'rate_limited', 'rate_limited']);
    expect(answers.length).toBeLessThanOrEqual(8);
    const after = await scrape(gateway());
    expect(sample(after, 'signal_gateway_limit_refusals_total', { limit: 'rate_limit_close_after' })).toBe(
      sample(before, 'signal_gateway_limit_refusals_total', { limit: 'rate_limit_close_after' }) + 1,
    );
    expect(sample(after, 'signal_gateway_connections_closed_total', { code: '4029' })).toBeGreaterThanOrEqual(1);
  });
});

describe('request rates', () => {
  it('PUBLISH_RATE: a burst of publishes and presence state updates is taken, one more is refused with its id, and a refill lets it through', async () => {
    const client = await connectNative(stack, { identity: 'usr_pub', device: 'd', gateway: 0 });
    await client.call('signal.join', { id: 'room', presence: true });
    const before = await refusals(gateway(), 'publish_rate');
    const frames = await burst(client, [
      ['signal.publish', { id: 'room', state: { n: 1 } }],
      ['signal.publish', { id: 'room', event: 'typing' }],
      ['signal.publish', { id: 'room', state: { n: 2 } }],
      ['signal.publish', { id: 'room', event: 'typing' }],
      ['signal.publish', { id: 'room', event: 'typing' }],
      ['signal.publish', { id: 'room', state: { n: 3 } }],
    ]);
    expect(codes(frames)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'rate_limited']);
    expect(frames[5]!.id).toBe(ids);
    expect(frames[5]!.error).toMatchObject({ code: -32030, data: { code: 'rate_limited' } });
    expect(frames[5]!.error!.message).toMatch(/at most 5 per second \(PUBLISH_RATE\) after a burst of 5 \(PUBLISH_BURST\)/);
    expect(await refusals(gateway(), 'publish_rate')).toBe(before + 1);
    // Refilled at 5 per second: accepted again soon (bounded retries, each one a refusal at most).
    await passes(async () => expect(codes(await burst(client, [['signal.publish', { id: 'room', event: 'later' }]]))).toEqual(['ok']), 5000, 250);
    client.close();
  });

  it('SEND_RATE: a burst of sends is taken, one more is refused', async () => {
    const receiver = await connectNative(stack, { identity: 'usr_to', device: 'd', gateway: 0 });
    const sender = await connectNative(stack, { identity: 'usr_from', device: 'd', gateway: 0 });
    const frames = await burst(sender, Array.from({ length: 6 }, (_, i) => ['signal.send', { to: 'usr_to', event: 'ice', n: i }] as [string, Record<string, unknown>]));
    expect(codes(frames)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'rate_limited']);
    expect(frames[5]!.error!.message).toMatch(/\(SEND_RATE\).*\(SEND_BURST\)/);
    expect(await refusals(gateway(), 'send_rate')).toBe(1);
    await receiver.next((f) => f.method === 'signal.send' && (f.params as { n?: number }).n === 4);
    receiver.close();
    sender.close();
  });

  it('RATE_LIMIT_CLOSE_AFTER: a connection that keeps publishing after refusals is closed with 4029', async () => {
    const client = await connectNative(stack, { identity: 'usr_flood', device: 'd', gateway: 0 });
    await client.call('signal.join', { id: 'flood' });
    for (let i = 0; i < 20; i++) client.notify('signal.publish', { id: 'flood', n: i });
    const closed = await client.closed;
    expect(closed).toEqual({ code: 4029, reason: 'rate limit: too many requests; reconnect with backoff' });
    expect(client.frames.filter((f) => f.error?.data?.code === 'rate_limited')).toHaveLength(3);
  });

  it('Bit6: a refusal for a rate is sent with id null, as for limits', async () => {
    const token = await mintToken(stack, 'alpha', 'usr_bit6');
    const client = await RpcClient.connect(`${stack.gatewayUrl()}/signal/v1/pubsub?jwt=${token}`, 'bit6');
    client.notify('signal.join', { id: 'b6' });
    for (let i = 0; i < 6; i++) client.notify('signal.publish', { id: 'b6', n: i });
    const refusal = await client.next((f) => f.error?.data?.code === 'rate_limited');
    expect(refusal.id).toBeNull();
    expect(refusal.error!.message).toMatch(/PUBLISH_RATE/);
    client.close();
  });
});
