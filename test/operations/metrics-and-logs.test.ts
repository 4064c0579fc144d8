import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminUrl, eventually, sample, scrape } from '../support/admin.js';
import { RpcClient } from '../support/rpc-client.js';
import { StelaceClient, connectStelace, gatewayHttpUrl } from '../support/stelace-client.js';
import { emit, keysOf, mintToken, signToken, startStack, type Stack } from '../support/stack.js';

let stack: Stack;
/** Every credential this test hands to anything; none may appear in any log line. */
const credentials = new Set<string>();

beforeAll(async () => {
  // The most verbose level: whatever anything logs, it is in the lines checked below.
  stack = await startStack({ gateways: 2, gatewayEnv: { LOG_LEVEL: 'trace' }, emitEnv: { LOG_LEVEL: 'trace' } });
  for (const app of stack.apps) {
    for (const env of Object.values(app.environments)) {
      for (const key of env!.publishableKeys) credentials.add(key);
      for (const secret of env!.secretKeys) credentials.add(secret.key!);
      credentials.add(env!.tokenSecret!);
    }
  }
});
afterAll(async () => {
  await stack?.stop();
});

async function token(identity: string, device = 'web'): Promise<string> {
  const minted = await mintToken(stack, 'alpha', identity, device);
  credentials.add(minted);
  return minted;
}

/** Resolves with the refusal status and body, or 'accepted'. */
function attempt(url: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => {
      ws.close();
      resolve('accepted');
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += String(c)));
      res.on('end', () => resolve(`${res.statusCode} ${body}`));
    });
    ws.on('error', () => undefined);
  });
}

function allLines(): string[] {
  return [...stack.gateways, stack.emitApi].flatMap((s) => s.lines());
}

describe('metrics and logs under real traffic', () => {
  it('counters move with traffic, and no key or token appears in any log line', async () => {
    const gateway = stack.gateways[0]!;
    const url = `${stack.gatewayUrl(0)}/v1/connect`;
    const { publishableKey, secretKey } = keysOf(stack, 'alpha');
    const before = await scrape(gateway);

    // Credentials in every place a client can put them.
    const ann = await RpcClient.connect(`${url}?token=${await token('ann')}&key=${publishableKey}`);
    const benToken = await token('ben');
    const benWs = new WebSocket(url, { headers: { authorization: `Bearer ${benToken}` } });
    await new Promise<void>((resolve, reject) => {
      benWs.once('open', () => resolve());
      benWs.once('error', reject);
    });
    const viewer = await RpcClient.connect(`${url}?key=${publishableKey}`);

    // Refusals of every kind, with credential-looking material in the URL.
    const expired = await signToken(stack, { identity: 'old', ttlSeconds: -60 });
    const valid = await token('eve');
    const tampered = valid.slice(0, -6) + (valid.endsWith('AAAAAA') ? 'BBBBBB' : 'AAAAAA');
    const unknownKey = 'pubk_test_0123456789abcdefXYZ';
    const garbage = 'not-a-jwt-but-a-secret-0123456789';
    for (const c of [expired, tampered, unknownKey, garbage]) credentials.add(c);
    expect(await attempt(`${url}?token=${expired}`)).toMatch(/^401 .*expired/);
    expect(await attempt(`${url}?token=${tampered}`)).toMatch(/^401 .*signature/);
    expect(await attempt(`${url}?token=${garbage}`)).toMatch(/^401 .*not a JWT/);
    expect(await attempt(`${url}?key=${unknownKey}`)).toMatch(/^401 .*unknown publishable key/);
    expect(await attempt(url, { authorization: `Bearer ${tampered}` })).toMatch(/^401 /);
    expect(await attempt(url)).toMatch(/^401 .*missing credentials/);

    // Messages in both directions.
    await ann.call('signal.join', { id: 'room' });
    await viewer.call('signal.join', { id: 'room' });
    const linesBeforeTraffic = allLines().length;
    const count = 40;
    for (let i = 0; i < count; i++) ann.notify('signal.publish', { id: 'room', n: i });
    for (let i = 0; i < count; i++) {
      const res = await emit(stack, '/v1/signals', secretKey, { to: { channel: 'room' }, message: { n: i } });
      expect(res.status).toBe(202);
    }
    await eventually(() => viewer.received('signal.publish').length === 2 * count, 'every message to arrive');
    // No line per message: 80 messages went through. (Background lines, such as a heartbeat
    // that timed out on a loaded machine, may come at any time, so the bound is not zero.)
    expect(allLines().length - linesBeforeTraffic).toBeLessThan(5);

    // HTTP answers of every kind.
    expect((await emit(stack, '/v1/signals', 'seck_test_wrongwrongwrongwrong', { to: { channel: 'room' } })).status).toBe(401);
    credentials.add('seck_test_wrongwrongwrongwrong');
    expect((await emit(stack, '/v1/signals', secretKey, { to: { channel: '' } })).status).toBe(400);
    expect((await emit(stack, '/v1/nope', secretKey, {})).status).toBe(404);

    const gw = await scrape(gateway);
    expect(sample(gw, 'signal_gateway_connections')).toBe(3);
    expect(sample(gw, 'signal_gateway_connections_opened_total') - sample(before, 'signal_gateway_connections_opened_total')).toBe(3);
    for (const reason of ['expired', 'bad_signature', 'malformed', 'unknown_key', 'missing_credentials']) {
      expect(sample(gw, 'signal_gateway_connections_refused_total', { reason }), reason).toBe(reason === 'bad_signature' ? 2 : 1);
    }
    expect(sample(gw, 'signal_gateway_client_frames_in_total')).toBeGreaterThanOrEqual(count + 2);
    expect(sample(gw, 'signal_gateway_client_bytes_in_total')).toBeGreaterThan(count * 40);
    expect(sample(gw, 'signal_gateway_messages_in_total')).toBeGreaterThanOrEqual(2 * count);
    expect(sample(gw, 'signal_gateway_frames_out_total')).toBeGreaterThanOrEqual(2 * count);
    expect(sample(gw, 'signal_gateway_frame_bytes_out_total')).toBeGreaterThan(2 * count * 40);
    expect(sample(gw, 'signal_gateway_fanout_duration_seconds_count')).toBeGreaterThanOrEqual(Math.floor((2 * count) / 8));
    expect(sample(gw, 'signal_gateway_subjects')).toBeGreaterThanOrEqual(1);
    expect(sample(gw, 'signal_nats_messages_out_total')).toBeGreaterThanOrEqual(count);

    ann.close();
    await ann.closed;
    benWs.close();
    await eventually(async () => sample(await scrape(gateway), 'signal_gateway_connections') === 1, 'closed connections to be counted');
    const closed = await scrape(gateway);
    const closes = [...closed].filter(([k]) => k.startsWith('signal_gateway_connections_closed_total{')).reduce((sum, [, v]) => sum + v, 0);
    expect(closes).toBeGreaterThanOrEqual(2);

    const em = await scrape(stack.emitApi);
    expect(sample(em, 'signal_emit_requests_total', { route: '/v1/signals', method: 'POST', status: '202' })).toBe(count);
    expect(sample(em, 'signal_emit_requests_total', { route: '/v1/signals', status: '401' })).toBe(1);
    expect(sample(em, 'signal_emit_requests_total', { route: '/v1/signals', status: '400' })).toBe(1);
    expect(sample(em, 'signal_emit_requests_total', { route: 'unmatched', status: '404' })).toBe(1);
    expect(sample(em, 'signal_emit_requests_total', { route: '/v1/tokens', status: '201' })).toBeGreaterThanOrEqual(3);
    expect(sample(em, 'signal_emit_request_duration_seconds_count', { route: '/v1/signals' })).toBe(count + 2);
    expect(sample(em, 'signal_emit_signals_total')).toBe(count);
    expect(sample(em, 'signal_emit_deliveries_total')).toBe(count);

    // Stelace clients send their credentials in-band; a refusal there is counted too.
    const refusedStelace = new StelaceClient(gatewayHttpUrl(stack, 0), 'v4');
    await refusedStelace.authenticate({ publishableKey, authToken: tampered });
    await refusedStelace.next('willDisconnect');
    const { client: stelace } = await connectStelace(stack, 'v4', { publishableKey, authToken: await token('sue') });
    expect(sample(await scrape(gateway), 'signal_gateway_connections_refused_total', { reason: 'stelace_invalid_token' })).toBe(1);
    stelace.close();

    viewer.close();
    const lines = allLines();
    // The events operators need are there: one line per connection and per refusal...
    expect(lines.filter((l) => l.includes('"msg":"connection opened"')).length).toBe(3);
    expect(lines.filter((l) => l.includes('"msg":"connection refused"')).length).toBe(6);
    // ...every line is a JSON log record (nothing else on stdout or stderr, such as a native
    // library's warning per connection)...
    for (const line of lines) expect(() => JSON.parse(line) as unknown, `not a JSON log line: ${line}`).not.toThrow();
    // ...and no credential, in any form, in any of them.
    for (const line of lines) {
      for (const secret of credentials) expect(line.includes(secret), `${line} contains a credential`).toBe(false);
      expect(line).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
    }
  });
});

describe('docs/operations.md', () => {
  it('describes every signal_* metric the services export, and no other', async () => {
    const docs = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
    const exported = new Set<string>();
    for (const service of [stack.gateways[0]!, stack.emitApi]) {
      const text = await (await fetch(`${adminUrl(service)}/metrics`)).text();
      for (const [, name] of text.matchAll(/^# TYPE (signal_\w+) /gm)) exported.add(name!);
    }
    // Metric names, not the presence bucket names (`signal_presence`) the NATS section mentions.
    const documented = new Set([...docs.matchAll(/`(signal_(?:gateway|emit|nats|readiness|liveness)_[a-z_]+)/g)].map((m) => m[1]!));
    expect([...exported].sort()).toEqual([...documented].sort());
  });
});
