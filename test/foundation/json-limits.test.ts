import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sample, scrape } from '../support/admin.js';
import { calmChannel } from '../support/calm-channel.js';
import { RpcClient } from '../support/rpc-client.js';
import { emit, keysOf, mintToken, signToken, startStack, type Stack } from '../support/stack.js';
import { connectStelace, postSignal } from '../support/stelace-client.js';

/**
 * MAX_JSON_DEPTH on every JSON input of real processes: at the limit a message works, one
 * level past it gets the documented error, a hostile depth (far past where stringifying
 * overflows the stack) gets the same error and nothing else happens; refusals are counted.
 * Names with lone surrogates are refused at minting, at verification and as destinations.
 */
const DEPTH = 8;
let stack: Stack;
let stillServing: () => Promise<void>;

beforeAll(async () => {
  stack = await startStack({ gateways: 1, gatewayEnv: { MAX_JSON_DEPTH: String(DEPTH) }, emitEnv: { MAX_JSON_DEPTH: String(DEPTH) } });
  ({ stillServing } = await calmChannel(stack));
});
afterAll(async () => {
  await stack?.stop();
});

/** `levels` arrays nested around a number: `nested(2)` is `[[1]]`. */
const nested = (levels: number): unknown => JSON.parse('['.repeat(levels) + '1' + ']'.repeat(levels));
const nestedText = (levels: number): string => '['.repeat(levels) + ']'.repeat(levels);

async function refusals(service: 'gateway' | 'emit'): Promise<number> {
  const samples = await scrape(service === 'gateway' ? stack.gateways[0]! : stack.emitApi);
  const name = service === 'gateway' ? 'signal_gateway_limit_refusals_total' : 'signal_emit_limit_refusals_total';
  return sample(samples, name, { limit: 'max_json_depth' });
}

describe.each([
  ['native', '/v1/connect?token='],
  ['bit6', '/signal/v1/pubsub?jwt='],
] as const)('%s frames', (dialect, path) => {
  let client: RpcClient;
  let listener: RpcClient;
  beforeAll(async () => {
    client = await RpcClient.connect(`${stack.gatewayUrl()}${path}${await mintToken(stack, 'alpha', `deep-${dialect}`, 'd', 'test')}`, dialect);
    listener = await RpcClient.connect(`${stack.gatewayUrl()}/v1/connect?token=${await mintToken(stack, 'alpha', `ear-${dialect}`, 'd')}`);
    await listener.call('signal.join', { id: `deep-${dialect}` });
    await client.call('signal.join', { id: `deep-${dialect}` });
  });
  afterAll(() => {
    client.close();
    listener.close();
  });

  it('publishes a frame exactly MAX_JSON_DEPTH deep', async () => {
    // frame 1 + params 2 + `m`'s arrays.
    const frame = await client.request('signal.publish', { id: `deep-${dialect}`, m: nested(DEPTH - 2) });
    expect(frame.error).toBeUndefined();
    const got = await listener.next((f) => f.params?.id === `deep-${dialect}`);
    expect(got.params!.m).toEqual(nested(DEPTH - 2));
  });

  it('answers one level deeper with invalid_json naming the limit, to the request id, and counts it', async () => {
    const before = await refusals('gateway');
    const frame = await client.request('signal.publish', { id: `deep-${dialect}`, m: nested(DEPTH - 1) });
    expect(frame.error).toMatchObject({ code: -32700, data: { code: 'invalid_json' } });
    expect(frame.error!.message).toBe(`frame is nested deeper than ${DEPTH} levels of arrays and objects (MAX_JSON_DEPTH); flatten it`);
    expect(await refusals('gateway')).toBe(before + 1);
  });

  it('answers a frame 10,000 levels deep the same way and keeps the connection and the node', async () => {
    client.ws.send(`{"jsonrpc":"2.0","id":77,"method":"signal.publish","params":{"id":"deep-${dialect}","m":${nestedText(10_000)}}}`);
    const frame = await client.next((f) => f.id === 77);
    expect(frame.error).toMatchObject({ code: -32700, data: { code: 'invalid_json' } });
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
    expect((await client.request('signal.publish', { id: `deep-${dialect}`, ok: 1 })).error).toBeUndefined();
    await stillServing();
  });

  it('limits a presence state the same way', async () => {
    const channel = `room-${dialect}`;
    expect((await client.request('signal.join', { id: channel, presence: true, state: { a: nested(DEPTH - 3) } })).error).toBeUndefined();
    await client.request('signal.leave', { id: channel });
    const refused = await client.request('signal.join', { id: channel, presence: true, state: { a: nested(DEPTH - 2) } });
    expect(refused.error).toMatchObject({ code: -32700, data: { code: 'invalid_json' } });
  });
});

describe('Socket.IO packets', () => {
  it('authenticates with an answer exactly MAX_JSON_DEPTH deep', async () => {
    // ack array 1 + answer object 2 + `extra`'s arrays.
    const { client } = await connectStelace(stack, 'v4', { publishableKey: keysOf(stack, 'alpha').publishableKey, channels: 'calm', extra: nested(DEPTH - 2) });
    client.close();
  });

  // `packet(depth)` is a packet whose data is `depth` levels deep.
  it.each([
    ['an event', (depth: number) => `42/signal,["e",${nestedText(depth - 1)}]`],
    ['an ack', (depth: number) => `430/signal,[{"x":${nestedText(depth - 2)}}]`],
  ])('closes a socket sending %s one level too deep with 1002 naming the limit, and counts it', async (_kind, packet) => {
    for (const depth of [DEPTH + 1, 10_000]) {
      const before = await refusals('gateway');
      const ws = new WebSocket(`${stack.gatewayUrl()}/signal/?EIO=4&transport=websocket`);
      const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
      await new Promise((resolve) => ws.once('open', resolve));
      ws.send('40/signal,');
      ws.send(packet(depth));
      expect(await closed).toEqual({
        code: 1002,
        reason: `Socket.IO packet data is nested deeper than ${DEPTH} levels of arrays and objects (MAX_JSON_DEPTH); flatten it`,
      });
      expect(await refusals('gateway')).toBe(before + 1);
    }
    await stillServing();
  });
});

describe('emit-api bodies', () => {
  it('accepts a body exactly MAX_JSON_DEPTH deep', async () => {
    const { secretKey } = keysOf(stack, 'alpha');
    // body 1 + `message`'s arrays.
    expect((await emit(stack, '/v1/signals', secretKey, { to: { channel: 'calm' }, message: nested(DEPTH - 1) })).status).toBe(202);
    expect((await emit(stack, '/v1/signals', secretKey, { signals: [{ to: { channel: 'calm' }, message: nested(DEPTH - 3) }] })).status).toBe(202);
  });

  it('answers one level deeper, and 20,000 levels deeper, with 400 invalid_json naming the field, and counts it', async () => {
    const { secretKey } = keysOf(stack, 'alpha');
    const before = await refusals('emit');
    const cases: [string, string, string][] = [
      ['/v1/signals', JSON.stringify({ to: { channel: 'calm' }, message: nested(DEPTH) }), 'message'],
      ['/v1/signals', `{"to":{"channel":"calm"},"message":${nestedText(20_000)}}`, 'message'],
      ['/v1/signals', JSON.stringify({ signals: [{ to: { channel: 'calm' }, message: nested(DEPTH - 2) }] }), 'signals.0.message'],
      ['/signal', `{"destination":"calm","message":${nestedText(20_000)}}`, 'message'],
      ['/v1/tokens', `{"identity":"a","grants":${nestedText(20_000)}}`, 'grants'],
    ];
    for (const [path, text, field] of cases) {
      const { status, body } = await emit(stack, path, secretKey, text);
      expect(status, path).toBe(400);
      expect(body).toMatchObject({ code: 'invalid_json', statusCode: 400, field });
      expect(body!.message).toBe(`body is nested deeper than ${DEPTH} levels of arrays and objects (MAX_JSON_DEPTH); flatten it`);
    }
    expect(await refusals('emit')).toBe(before + cases.length);
    await stillServing();
  });

  it('limits a form-encoded message the same way', async () => {
    const { secretKey } = keysOf(stack, 'alpha');
    const form = (levels: number) => `destination=calm&message=${encodeURIComponent(nestedText(levels))}`;
    expect((await postSignal(stack, secretKey, form(DEPTH - 1), 'application/x-www-form-urlencoded')).status).toBe(200);
    const refused = await postSignal(stack, secretKey, form(20_000), 'application/x-www-form-urlencoded');
    expect(refused).toMatchObject({ status: 400, body: { code: 'invalid_json', field: 'message' } });
  });
});

describe('names must be well-formed Unicode', () => {
  it('refuses to mint a token for a lone surrogate, naming the field', async () => {
    const { secretKey } = keysOf(stack, 'alpha');
    for (const [body, field] of [[{ identity: 'vic\ud800' }, 'identity'], [{ identity: 'vic', device: '\udfff' }, 'device']] as const) {
      const { status, body: answer } = await emit(stack, '/v1/tokens', secretKey, body);
      expect(status).toBe(400);
      expect(answer).toMatchObject({ code: 'bad_request', field });
      expect(answer!.message).toMatch(/well-formed Unicode/);
    }
  });

  it('refuses a token whose sub holds a lone surrogate at connect', async () => {
    const token = await signToken(stack, { identity: 'vic\ud800', ttlSeconds: 60 });
    const ws = new WebSocket(`${stack.gatewayUrl()}/v1/connect?token=${token}`);
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
    });
    expect(status).toBe(401);
  });

  it('refuses lone surrogates as emit destinations and in frames, so vic\\uFFFD receives nothing meant for vic\\ud800', async () => {
    const { secretKey } = keysOf(stack, 'alpha');
    const vic = await RpcClient.connect(`${stack.gatewayUrl()}/v1/connect?token=${await mintToken(stack, 'alpha', 'vic\uFFFD', 'd')}`);
    const sender = await RpcClient.connect(`${stack.gatewayUrl()}/v1/connect?token=${await mintToken(stack, 'alpha', 'sender', 'd')}`);
    for (const to of [{ user: 'vic\ud800' }, { device: 'vic\ud800/d' }, { device: 'vic/\ud800' }]) {
      const { status, body } = await emit(stack, '/v1/signals', secretKey, { to, message: 'wrong' });
      expect(status).toBe(400);
      expect(body).toMatchObject({ code: 'bad_request', field: 'to' });
    }
    expect((await sender.request('signal.send', { to: 'vic\ud800', message: 'wrong' })).error).toMatchObject({ code: -32602, data: { field: 'to' } });
    expect((await sender.request('signal.join', { id: 'c\ud800' })).error).toMatchObject({ code: -32602, data: { field: 'id' } });
    // What does reach vic\uFFFD is what is addressed to it, and only that.
    expect((await emit(stack, '/v1/signals', secretKey, { to: { user: 'vic\uFFFD' }, message: 'right' })).status).toBe(202);
    const got = await vic.next((f) => f.method !== undefined && f.method !== 'signal.connected');
    expect(got.params!.message).toBe('right');
    vic.close();
    sender.close();
  });
});
