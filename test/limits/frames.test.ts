import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { opened } from '../support/open-websocket.js';
import { RpcClient } from '../support/rpc-client.js';
import { keysOf, startStack, type Stack } from '../support/stack.js';
import { refusals } from './support.js';

/**
 * FRAME_RATE / FRAME_BURST: every frame a connection sends counts, whatever it is — frames that
 * are refused before they become requests (not JSON, unknown methods) cost the node work too.
 */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 1, gatewayEnv: { FRAME_RATE: '5', FRAME_BURST: '5', RATE_LIMIT_CLOSE_AFTER: '3' } });
});
afterAll(async () => {
  await stack?.stop();
});

describe('frames per connection', () => {
  it('JSON-RPC: a burst of frames is read, the next ones get rate_limited, and a connection that keeps on is closed with 4029', async () => {
    const before = await refusals(stack.gateways[0]!, 'frame_rate');
    const client = await RpcClient.connect(`${stack.gatewayUrl()}/v1/connect?key=${keysOf(stack, 'alpha').publishableKey}`);
    for (let i = 0; i < 8; i++) client.ws.send('not json');
    const { code } = await client.closed;
    expect(code).toBe(4029);
    const answers = client.frames.map((f) => f.error?.data?.code);
    expect(answers).toEqual(['invalid_json', 'invalid_json', 'invalid_json', 'invalid_json', 'invalid_json', 'rate_limited', 'rate_limited', 'rate_limited']);
    expect(client.frames[5]!.error!.message).toMatch(/too many frames: at most 5 per second \(FRAME_RATE\)/);
    expect(await refusals(stack.gateways[0]!, 'frame_rate')).toBe(before + 3);
  });

  it('Socket.IO: packets past the burst are dropped, and a socket that keeps on is closed with 4029', async () => {
    const ws = new WebSocket(`${stack.gatewayUrl()}/signal/?EIO=4&transport=websocket`);
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await opened(ws);
    // Pongs nobody asked for: harmless packets the surface reads and ignores.
    for (let i = 0; i < 8; i++) ws.send('3');
    expect(await closed).toBe(4029);
  });
});
