import { spawn } from 'node:child_process';
import WebSocket from 'ws';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService } from '@signal/harness';
import { Signal, SignalClientError } from '@signal/client';
import { eventually } from '../support/poll.js';
import { EMIT_API_ENTRY, keysOf, mintToken, serviceEnv } from '../support/stack.js';
import { CONSOLE_SOURCES, startConsoleStack, type ConsoleStack } from './support.js';

/** The HTTP side of the console on a real stack: its pages, demo tokens, and the nodes and channels it reads. */
let ctx: ConsoleStack;
const clients: Signal[] = [];

beforeAll(async () => {
  // Generous: the fuzz below takes hundreds; the rate limit is tested on an emit-api of its own.
  ctx = await startConsoleStack({ gateways: 2, emitEnv: { DEMO_TOKENS_PER_SECOND: '1000' } });
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await ctx?.stop();
});

async function get(path: string, key?: string): Promise<{ status: number; headers: Headers; body: Record<string, unknown> | string }> {
  const res = await fetch(`${ctx.url}${path}`, { headers: key === undefined ? {} : { authorization: `Bearer ${key}` }, redirect: 'manual' });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: res.headers.get('content-type')?.startsWith('application/json') ? (JSON.parse(text) as Record<string, unknown>) : text };
}

async function demoToken(body: unknown): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const res = await fetch(`${ctx.url}/v1/demo-tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

function connect(token: string, gateway = 0): Signal {
  const signal = new Signal(token, { url: ctx.stack.gatewayUrl(gateway), WebSocket });
  clients.push(signal);
  return signal;
}

describe('console pages', () => {
  it('serves the built pages at /console/ with a strict content security policy; nothing else', async () => {
    const bare = await get('/console');
    expect(bare.status).toBe(308);
    expect(bare.headers.get('location')).toBe('/console/');
    for (const [path, type, marker] of [
      ['/console/', 'text/html', '<a href="demo.html">Live demo</a>'],
      ['/console/demo.html', 'text/html', 'id="join-form"'],
      ['/console/admin.html', 'text/html', 'id="login-form"'],
      ['/console/demo.js', 'text/javascript', 'demo-tokens'],
      ['/console/console.css', 'text/css', ':focus-visible'],
    ] as const) {
      const page = await get(path);
      expect(page.status, path).toBe(200);
      expect(page.headers.get('content-type')).toContain(type);
      expect(page.body).toContain(marker);
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    }
    for (const path of ['/console/nope.html', '/console/..%2f..%2fpackage.json', '/console/%2e%2e', '/console/demo.ts']) {
      const missing = await get(path);
      expect(missing.status, path).toBe(404);
      expect(missing.body).toMatchObject({ code: 'not_found' });
    }
    const post = await fetch(`${ctx.url}/console/demo.html`, { method: 'POST' });
    expect(post.status).toBe(405);
  });
});

describe('POST /v1/demo-tokens', () => {
  it('mints a fenced token: demo-<name>, 10 minutes, demo-* channels and demo-* users only, with the gateways to use', async () => {
    const { status, body } = await demoToken({ name: 'carol' });
    expect(status).toBe(201);
    expect(body).toMatchObject({ identity: 'demo-carol', gateways: [ctx.stack.gatewayUrl(0), ctx.stack.gatewayUrl(1)] });
    expect((body.expiresAt as number) - Date.now() / 1000).toBeLessThanOrEqual(600);
    const carol = connect(body.token as string);
    const demo = carol.join('demo-lobby', { presence: true });
    await demo.joined;
    const other = carol.join('room-1');
    await expect(other.joined).rejects.toMatchObject({ code: 'forbidden' });
    await expect(carol.send({ to: 'alice', text: 'x' }, { ack: true })).rejects.toBeInstanceOf(SignalClientError);
    await expect(carol.send({ to: 'alice', text: 'x' }, { ack: true })).rejects.toMatchObject({ code: 'forbidden' });
  });

  it('refuses a bad name with the field; hostile bodies get 400 or 413 with a reason, never 5xx', async () => {
    for (const body of [{}, { name: 'Bob' }, { name: 'a'.repeat(25) }, { name: '-x' }, { name: 'ok', extra: 1 }]) {
      const answer = await demoToken(body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.code).toBe('bad_request');
    }
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 40 }).map((v) => JSON.stringify(v)),
      fc.record({ name: fc.jsonValue({ maxDepth: 3 }) }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.nat({ max: 2000 }).map((depth) => `{"name":${'['.repeat(depth)}${']'.repeat(depth)}}`),
    );
    for (const text of fc.sample(body, { numRuns: 300, seed: 14 })) {
      const res = await fetch(`${ctx.url}/v1/demo-tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
      const answer = (await res.json()) as { code?: string };
      expect([201, 400, 413], `${text.slice(0, 200)} → ${res.status} ${JSON.stringify(answer)}`).toContain(res.status);
      if (res.status !== 201) expect(answer.code).toMatch(/^(bad_request|invalid_json|payload_too_large)$/);
    }
    expect((await demoToken({ name: 'still-serving' })).status).toBe(201);
  });

  it('refuses more than DEMO_TOKENS_PER_SECOND, all callers together, with 429 and Retry-After', async () => {
    const limited = await startService({ entry: EMIT_API_ENTRY, name: 'emit-api-rate', env: { ...serviceEnv(ctx.stack), DEMO_TOKENS_KEY: keysOf(ctx.stack, 'alpha').publishableKey, DEMO_GATEWAYS: ctx.stack.gatewayUrl(0), DEMO_TOKENS_PER_SECOND: '1' } });
    try {
      // One per second, in bursts of 10: of 12 sent at once at least one is refused.
      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          fetch(`http://127.0.0.1:${String(limited.ready.port)}/v1/demo-tokens`, { method: 'POST', body: JSON.stringify({ name: `r${i}` }) }).then(async (r) => ({ status: r.status, headers: r.headers, body: (await r.json()) as Record<string, unknown> })),
        ),
      );
      const refused = answers.find((a) => a.status === 429);
      expect(refused?.body).toMatchObject({ code: 'rate_limited' });
      expect(String(refused?.body.message)).toContain('DEMO_TOKENS_PER_SECOND');
      expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const metrics = await (await fetch(`http://127.0.0.1:${String(limited.ready.adminPort)}/metrics`)).text();
      expect(metrics).toMatch(/signal_emit_limit_refusals_total\{limit="demo_tokens_per_second"\} [1-9]/);
    } finally {
      await limited.stop();
    }
  });

  it('does not exist where DEMO_TOKENS_KEY is not set (the stack\'s own emit-api)', async () => {
    const res = await fetch(`${ctx.stack.emitUrl}/v1/demo-tokens`, { method: 'POST', body: '{"name":"x"}' });
    expect(res.status).toBe(404);
    expect((await fetch(`${ctx.stack.emitUrl}/console/`)).status).toBe(404);
  });
});

describe('GET /v1/nodes', () => {
  it('lists every gateway alive with its connections, for a key with the nodes permission only', async () => {
    expect((await get('/v1/nodes')).status).toBe(401);
    const refused = await get('/v1/nodes', keysOf(ctx.stack, 'beta').secretKey);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'forbidden' });
    expect(String((refused.body as { message: string }).message)).toContain("'nodes' permission");

    const ids = ctx.stack.gateways.map((g) => g.ready.node as string);
    connect(await mintToken(ctx.stack, 'alpha', 'nodes-user'), 1);
    let nodes: Array<{ node: string; alive: boolean; connections?: number; startedAt?: number }> = [];
    await eventually(async () => {
      nodes = ((await get('/v1/nodes', ctx.adminKey)).body as { nodes: typeof nodes }).nodes;
      return (nodes.find((n) => n.node === ids[1])?.connections ?? 0) >= 1;
    }, 'the second gateway to count its connection in a heartbeat');
    expect(nodes.map((n) => n.node).sort()).toEqual([...ids].sort());
    expect(nodes.every((n) => n.alive && typeof n.startedAt === 'number')).toBe(true);
  });
});

describe('GET /v1/channels', () => {
  it("lists the key's environment's channels with their connections and participants, busiest first, and no other tenant's", async () => {
    const a = connect(await mintToken(ctx.stack, 'alpha', 'ch-a'), 0);
    const b = connect(await mintToken(ctx.stack, 'alpha', 'ch-b'), 1);
    await Promise.all([a.join('demo-busy', { presence: true }).joined, b.join('demo-busy', { presence: true }).joined, a.join('demo-quiet é', { presence: true }).joined, b.join('demo-plain').joined]);
    let channels: Array<{ channel: string; connections: number; participants: number; occupancy: number }> = [];
    await eventually(async () => {
      channels = ((await get('/v1/channels', ctx.adminKey)).body as { channels: typeof channels }).channels;
      return channels.some((c) => c.channel === 'demo-busy' && c.participants === 2) && channels.some((c) => c.channel === 'demo-plain');
    }, 'demo-busy with two participants, and demo-plain');
    const busy = channels.findIndex((c) => c.channel === 'demo-busy');
    const quiet = channels.findIndex((c) => c.channel === 'demo-quiet é');
    expect(channels[busy]).toEqual({ channel: 'demo-busy', connections: 2, participants: 2, occupancy: 2 });
    expect(channels[quiet]).toEqual({ channel: 'demo-quiet é', connections: 1, participants: 1, occupancy: 1 });
    // Joined without presence: listed, with no participants.
    expect(channels.find((c) => c.channel === 'demo-plain')).toEqual({ channel: 'demo-plain', connections: 1, participants: 0, occupancy: 0 });
    expect(busy).toBeLessThan(quiet);
    expect(await get('/v1/channels', keysOf(ctx.stack, 'beta').secretKey)).toMatchObject({ status: 200, body: { channels: [], truncated: false } });
    expect((await get('/v1/channels', keysOf(ctx.stack, 'alpha', 'live').secretKey)).body).toEqual({ channels: [], truncated: false });
    expect((await get('/v1/channels')).status).toBe(401);
  });
});

describe('configuration', () => {
  /** emit-api with the stack's NATS and apps file plus `env`: resolves with its exit code and stderr once it exits. */
  function run(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [EMIT_API_ENTRY], { env: { ...process.env, ...serviceEnv(ctx.stack), ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr }));
    });
  }

  it.each([
    [{ DEMO_TOKENS_KEY: 'pubk_test_AAAAAAAAAAAAAAAAAAAA' }, 'DEMO_TOKENS_KEY is not a publishable key of the apps file'],
    [{ DEMO_TOKENS_KEY: 'seck_test_AAAAAAAAAAAAAAAAAAAA' }, 'DEMO_TOKENS_KEY=(hidden): must be a publishable key'],
    [{ DEMO_GATEWAYS: 'not a url' }, 'DEMO_GATEWAYS="not a url": must be 1 to 16 comma-separated ws://, wss://, http:// or https:// URLs'],
    [{ DEMO_GATEWAYS: 'ws://127.0.0.1:1,javascript:alert(1)' }, 'DEMO_GATEWAYS="ws://127.0.0.1:1,javascript:alert(1)": must be 1 to 16'],
    [{ CONSOLE_DIR: '/nonexistent/console' }, 'CONSOLE_DIR /nonexistent/console: cannot read it (ENOENT)'],
    [{ CONSOLE_DIR: CONSOLE_SOURCES }, 'has no index.html'],
  ])('%j stops emit-api, saying what to fix', async (env, expected) => {
    const { code, stderr } = await run(env);
    expect(code).toBe(1);
    expect(stderr).toContain(expected);
  });
});
