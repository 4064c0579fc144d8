import type { ServiceProcess } from '@signal/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sample, scrape } from '../support/admin.js';
import { CLIENT_VERSIONS, StelaceClient, connectStelace, gatewayHttpUrl, postSignal } from '../support/stelace-client.js';
import { keysOf, mintToken, startStack, type Stack } from '../support/stack.js';
import { refusals, refused, startGateway, wsUrl } from './support.js';

/**
 * Limits on the Stelace (Socket.IO) surface: what the handshake asks for is refused the
 * Stelace way (`willDisconnect {error}`, then `io server disconnect`); node and address limits
 * refuse the WebSocket upgrade itself with 429.
 */
let stack: Stack;
let narrow: ServiceProcess;

beforeAll(async () => {
  stack = await startStack({ gateways: 1, gatewayEnv: { MAX_CHANNELS_PER_CONNECTION: '3', MAX_CONNECTIONS_PER_IDENTITY: '1' } });
  narrow = await startGateway(stack, 'narrow', { MAX_CONNECTIONS_PER_IP: '1' });
});
afterAll(async () => {
  await narrow?.stop();
  await stack?.stop();
});

const alpha = () => keysOf(stack, 'alpha');

async function refusedWith(client: StelaceClient, answer: Record<string, unknown>): Promise<string> {
  await client.authenticate(answer);
  const [payload] = await client.next('willDisconnect');
  expect(await client.disconnected).toBe('io server disconnect');
  return (payload as { error: string }).error;
}

describe.each(CLIENT_VERSIONS)('socket.io-client %s', (version) => {
  it('MAX_CHANNELS_PER_CONNECTION: an authentication answer with the limit joins them all; one more channel is refused', async () => {
    const channels = [1, 2, 3].map((i) => `${version}-ch${i}`);
    const { client } = await connectStelace(stack, version, { publishableKey: alpha().publishableKey, channels });
    expect((await postSignal(stack, alpha().secretKey, { destination: channels[2], message: 3 })).status).toBe(200);
    expect(await client.next('signal')).toEqual([{ message: 3, event: 'signal', env: 'test' }]);
    client.close();

    const before = await scrape(stack.gateways[0]!);
    const tooMany = new StelaceClient(gatewayHttpUrl(stack), version);
    const reason = await refusedWith(tooMany, { publishableKey: alpha().publishableKey, channels: [...channels, `${version}-ch4`] });
    expect(reason).toBe('Too many channels: 4 channels asked for, over the 3-channel limit per connection (MAX_CHANNELS_PER_CONNECTION)');
    const after = await scrape(stack.gateways[0]!);
    const delta = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    expect(delta('signal_gateway_connections_refused_total', { reason: 'stelace_too_many_channels' })).toBe(1);
    expect(delta('signal_gateway_limit_refusals_total', { limit: 'max_channels_per_connection' })).toBe(1);
  });

  it('MAX_CONNECTIONS_PER_IDENTITY: a second socket of the same user is refused at the handshake', async () => {
    const identity = `usr_${version}solo`;
    const token = await mintToken(stack, 'alpha', identity);
    const { client } = await connectStelace(stack, version, { publishableKey: alpha().publishableKey, authToken: token });
    const second = new StelaceClient(gatewayHttpUrl(stack), version);
    const reason = await refusedWith(second, { publishableKey: alpha().publishableKey, authToken: token });
    expect(reason).toBe(`Too many connections: ${identity} already has 1 connections to this node, the most allowed (MAX_CONNECTIONS_PER_IDENTITY); close some`);
    expect(sample(await scrape(stack.gateways[0]!), 'signal_gateway_connections_refused_total', { reason: 'stelace_too_many_connections' })).toBeGreaterThanOrEqual(1);
    // The first one is still served.
    expect((await postSignal(stack, alpha().secretKey, { destination: identity, message: 'still' })).status).toBe(200);
    expect(await client.next('signal')).toEqual([{ message: 'still', event: 'signal', env: 'test' }]);
    client.close();
  });
});

describe('MAX_CONNECTIONS_PER_IP on the Stelace path', () => {
  it('refuses the WebSocket upgrade with 429 once the address has its connections', async () => {
    const first = new StelaceClient(`http://127.0.0.1:${String(narrow.ready.port)}`, 'v4');
    await first.authentication;
    const refusal = await refused(`${wsUrl(narrow)}/signal/?EIO=4&transport=websocket`);
    expect(refusal).toMatchObject({ status: 429, body: { code: 'limit_exceeded', limit: 'MAX_CONNECTIONS_PER_IP' } });
    const second = new StelaceClient(`http://127.0.0.1:${String(narrow.ready.port)}`, 'v4');
    await expect(second.authentication).rejects.toThrow();
    expect(await refusals(narrow, 'max_connections_per_ip')).toBe(2);
    first.close();
  });
});
