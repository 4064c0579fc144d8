import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calmChannel } from '../support/calm-channel.js';
import { RpcClient } from '../support/rpc-client.js';
import { emit, keysOf, mintToken, startStack, type Stack } from '../support/stack.js';

let stack: Stack;
let bystander: RpcClient;
let sender: RpcClient;
/** After each abuse, the node still serves the bystander and the abuser's connection. */
let stillServing: () => Promise<void>;

beforeAll(async () => {
  stack = await startStack({ gateways: 1, gatewayEnv: { MAX_FRAME_BYTES: '1024' }, emitEnv: { MAX_BODY_BYTES: '4096' } });
  ({ bystander, sender, stillServing } = await calmChannel(stack));
});
afterAll(async () => {
  await stack?.stop();
});

describe('gateway refuses bad frames clearly and keeps going', () => {
  it('answers invalid JSON with -32700', async () => {
    sender.ws.send('{"jsonrpc": "2.0", "method": ');
    const frame = await sender.next((f) => f.error?.code === -32700);
    expect(frame.id).toBeNull();
    expect(frame.error!.data?.code).toBe('invalid_json');
    await stillServing();
  });

  it('answers an unknown method with -32601 naming the methods that exist', async () => {
    const frame = await sender.request('signal.unknown', {});
    expect(frame.error).toMatchObject({ code: -32601, data: { code: 'unknown_method' } });
    expect(frame.error!.message).toContain('signal.join');
    await stillServing();
  });

  it('answers bad params with -32602 naming the field', async () => {
    expect((await sender.request('signal.join', {})).error).toMatchObject({ code: -32602, data: { field: 'id' } });
    expect((await sender.request('signal.join', { id: 'x', presence: 'yes' })).error).toMatchObject({ code: -32602, data: { field: 'presence' } });
    expect((await sender.request('signal.send', { to: 'a/b/c/d' })).error).toMatchObject({ code: -32602, data: { field: 'to' } });
    expect((await sender.request('signal.publish', { id: 'never-joined', x: 1 })).error).toMatchObject({ code: -32009, data: { code: 'not_joined' } });
    await stillServing();
  });

  it('answers a request that is not JSON-RPC with -32600, keeping its id', async () => {
    sender.ws.send(JSON.stringify({ jsonrpc: '1.0', id: 99, method: 'signal.join' }));
    const frame = await sender.next((f) => f.id === 99);
    expect(frame.error).toMatchObject({ code: -32600, data: { field: 'jsonrpc' } });
    sender.ws.send(JSON.stringify([1, 2]));
    expect((await sender.next((f) => f.error?.code === -32600)).id).toBeNull();
    await stillServing();
  });

  it('reports a failed notification in the native dialect', async () => {
    sender.notify('signal.publish', { id: 42 });
    const frame = await sender.next((f) => f.error?.code === -32602);
    expect(frame.id).toBeNull();
    await stillServing();
  });

  it('refuses an oversize frame with an error answering its request, and keeps the connection', async () => {
    sender.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'signal.publish', params: { id: 'calm', blob: 'x'.repeat(2000) } }));
    const frame = await sender.next((f) => f.error?.code === -32013);
    expect(frame.id).toBe(5);
    expect(frame.error!.message).toMatch(/over the 1024-byte limit/);
    sender.ws.send(`{"jsonrpc":"2.0","id":6,"method":"signal.publish","params":{"blob":"${'x'.repeat(2000)}"`);
    expect((await sender.next((f) => f.error?.code === -32013)).id).toBeNull();
    expect(bystander.frames.some((f) => JSON.stringify(f).includes('xxxx'))).toBe(false);
    await stillServing();
  });

  it('drops only a connection whose frame is far beyond the limit, without touching others', async () => {
    const token = await mintToken(stack, 'alpha', 'huge', 'sender');
    const huge = await RpcClient.connect(`${stack.gatewayUrl()}/v1/connect?token=${token}`);
    huge.ws.send('x'.repeat(1024 * 1024 + 1));
    expect((await huge.closed).code).toBe(1006);
    await stillServing();
  });

  it('refuses binary frames and answers _ping with _pong', async () => {
    sender.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect((await sender.next((f) => f.error?.code === -32600)).error!.message).toContain('text frames');
    sender.ws.send('_ping');
    await expect.poll(() => sender.raw.includes('_pong')).toBe(true);
    await stillServing();
  });
});

describe('gateway refuses bad credentials at upgrade with 401 and a reason', () => {
  const refused = (path: string) => RpcClient.connect(`${stack.gatewayUrl()}${path}`).then(() => 'accepted', (e: Error) => e.message);

  it('names the problem', async () => {
    expect(await refused('/v1/connect')).toMatch(/^401 .*missing credentials/);
    expect(await refused('/v1/connect?token=abc')).toMatch(/^401 .*not a JWT/);
    expect(await refused('/v1/connect?key=pubk_test_nope')).toMatch(/^401 .*unknown publishable key/);
    const beta = await mintToken(stack, 'beta', 'x');
    expect(await refused(`/v1/connect?token=${beta}&key=${keysOf(stack, 'alpha').publishableKey}`)).toMatch(/^401 .*different apps/);
    const tampered = beta.slice(0, -4) + (beta.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect(await refused(`/v1/connect?token=${tampered}`)).toMatch(/^401 .*signature/);
    const withheld = await mintToken(stack, 'alpha', 'x', 'web', 'test', { grants: { signal: false } });
    expect(await refused(`/v1/connect?token=${withheld}`)).toMatch(/^401 .*does not grant signal access/);
    expect(await refused(`/signal/v1/pubsub?jwt=${withheld}`)).toMatch(/^401 .*does not grant signal access/);
  });

  it('refuses an unknown path with 404', async () => {
    const res = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${stack.gatewayUrl()}/nope`);
      ws.on('unexpected-response', (_req, r) => resolve(r.statusCode ?? 0));
      ws.on('error', () => undefined);
    });
    expect(res).toBe(404);
  });
});

describe('emit API refuses bad requests clearly', () => {
  const key = () => keysOf(stack, 'alpha').secretKey;

  it('401 without or with a wrong key, 403 with a publishable key', async () => {
    expect(await emit(stack, '/v1/signals', undefined, { to: { channel: 'a' } })).toMatchObject({
      status: 401,
      body: { statusCode: 401, message: 'Please provide a secret or publishable API key' },
    });
    expect((await emit(stack, '/v1/signals', 'seck_live_' + 'B'.repeat(32), { to: { channel: 'a' } })).status).toBe(401);
    expect((await emit(stack, '/v1/signals', keysOf(stack, 'alpha').publishableKey, { to: { channel: 'a' } })).status).toBe(403);
    const basic = await fetch(`${stack.emitUrl}/v1/signals`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${key()}:`).toString('base64')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: { channel: 'a' } }),
    });
    expect(basic.status).toBe(202);
  });

  it('400 naming the failing field', async () => {
    expect(await emit(stack, '/v1/signals', key(), undefined as unknown as string)).toMatchObject({ status: 400 });
    expect(await emit(stack, '/v1/signals', key(), '{"to":')).toMatchObject({ status: 400, body: { code: 'invalid_json' } });
    expect(await emit(stack, '/v1/signals', key(), { to: { channel: '' } })).toMatchObject({ status: 400, body: { field: 'to.channel' } });
    expect(await emit(stack, '/v1/signals', key(), { to: { channel: 'a' }, colour: 'red' })).toMatchObject({ status: 400 });
    expect(await emit(stack, '/v1/signals', key(), { to: { user: 'a/b' } })).toMatchObject({ status: 400, body: { field: 'to' } });
    expect(await emit(stack, '/v1/signals', key(), { signals: [{ to: { channel: 'ok' } }, { to: { connection: 'a/b' } }] })).toMatchObject({
      status: 400,
      body: { field: 'signals.1.to.connection' },
    });
    expect(await emit(stack, '/v1/signals', key(), { to: { channel: 'a' }, event: 5 })).toMatchObject({ status: 400, body: { field: 'event' } });
  });

  it('a bad batch publishes nothing', async () => {
    const token = await mintToken(stack, 'alpha', 'batch', 'watcher');
    const watcher = await RpcClient.connect(`${stack.gatewayUrl()}/v1/connect?token=${token}`);
    await watcher.call('signal.join', { id: 'batch' });
    const res = await emit(stack, '/v1/signals', key(), { signals: [{ to: { channel: 'batch' }, message: 'first' }, { to: { nope: 1 } }] });
    expect(res.status).toBe(400);
    await emit(stack, '/v1/signals', key(), { to: { channel: 'batch' }, message: 'marker' });
    expect((await watcher.next((f) => f.method === 'signal.publish')).params?.message).toBe('marker');
    watcher.close();
  });

  it('413 for an oversize body, 404 for an unknown path', async () => {
    expect(await emit(stack, '/v1/signals', key(), { to: { channel: 'a' }, message: 'x'.repeat(5000) })).toMatchObject({
      status: 413,
      body: { code: 'payload_too_large' },
    });
    expect((await emit(stack, '/v2/nothing', key(), {})).status).toBe(404);
  });

  it('mints tokens only with valid input', async () => {
    expect(await emit(stack, '/v1/tokens', key(), { identity: 'a/b' })).toMatchObject({ status: 400, body: { field: 'identity' } });
    expect(await emit(stack, '/v1/tokens', key(), { identity: 'a', ttl: 10 ** 9 })).toMatchObject({ status: 400, body: { field: 'ttl' } });
    const ok = await emit(stack, '/v1/tokens', key(), { identity: 'a', device: 'd', ttl: 60 });
    expect(ok).toMatchObject({ status: 201, body: { sub: 'a/d', env: 'test' } });
  });
});
