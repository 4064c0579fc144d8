import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, sample, scrape } from '../support/admin.js';
import { emit, keysOf, startStack, type Stack } from '../support/stack.js';

/**
 * emit-api limits on a real process: requests per secret key (429 with Retry-After), the
 * method of a known path (405 with Allow), and the HTTP server's timeouts and connection cap,
 * each counted in signal_emit_limit_refusals_total by its variable.
 */
async function refusals(stack: Stack, limit: string): Promise<number> {
  return sample(await scrape(stack.emitApi), 'signal_emit_limit_refusals_total', { limit });
}

function errorLines(stack: Stack): string[] {
  return stack.emitApi.lines().filter((l) => /"level":(50|60)/.test(l));
}

describe('requests per secret key', () => {
  const RATE = 1;
  const BURST = 5;
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ gateways: 0, emitEnv: { RATE_LIMIT_PER_KEY: String(RATE), RATE_LIMIT_BURST: String(BURST) } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('serves a burst of RATE_LIMIT_BURST, then answers 429 rate_limited with Retry-After, and counts it', async () => {
    const { secretKey } = keysOf(stack, 'alpha');
    const before = await refusals(stack, 'rate_limit_per_key');
    const started = performance.now();
    const statuses: number[] = [];
    let refused: Response | undefined;
    while (refused === undefined) {
      const res = await fetch(`${stack.emitUrl}/v1/signals`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ to: { channel: 'c' }, message: 1 }),
      });
      statuses.push(res.status);
      if (res.status === 429) refused = res;
      else await res.text();
    }
    const seconds = (performance.now() - started) / 1000;
    const served = statuses.length - 1;
    // The whole burst is served; beyond it only what the rate refilled meanwhile.
    expect(statuses.slice(0, BURST)).toEqual(Array(BURST).fill(202));
    expect(served).toBeLessThanOrEqual(BURST + Math.ceil(seconds * RATE));
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    const body = (await refused.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ code: 'rate_limited', statusCode: 429, data: { retryAfter } });
    expect(body.message).toMatch(/over its rate of 1 requests\/s \(RATE_LIMIT_PER_KEY, bursts of 5: RATE_LIMIT_BURST\)/);
    expect(await refusals(stack, 'rate_limit_per_key')).toBe(before + 1);

    // Other keys have their own bucket; requests without a valid key take from none.
    expect((await emit(stack, '/v1/signals', keysOf(stack, 'beta').secretKey, { to: { channel: 'c' } })).status).toBe(202);
    expect((await emit(stack, '/v1/signals', 'seck_test_0000000000000000nope', { to: { channel: 'c' } })).status).toBe(401);

    // A client that waits as told is served.
    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
    expect((await emit(stack, '/v1/tokens', secretKey, { identity: 'patient' })).status).toBe(201);

    // The clear key never reaches the logs: they name the key by its label.
    expect(stack.emitApi.lines().filter((l) => l.includes(secretKey))).toEqual([]);
    expect(errorLines(stack)).toEqual([]);
  });
});

describe('HTTP methods and paths', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ gateways: 0 });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('answers a wrong method with 405 and an Allow header, an unknown path with 404', async () => {
    const { secretKey } = keysOf(stack, 'alpha');
    for (const [method, path, allow] of [
      ['GET', '/v1/signals', 'POST'],
      ['PUT', '/signal', 'POST'],
      ['DELETE', '/v1/tokens', 'POST'],
      ['POST', '/healthz', 'GET'],
      ['POST', '/v1/channels/room/participants', 'GET'],
    ] as const) {
      const res = await fetch(`${stack.emitUrl}${path}`, { method, headers: { authorization: `Bearer ${secretKey}` } });
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(res.headers.get('allow')).toBe(allow);
      expect(await res.json()).toMatchObject({ code: 'method_not_allowed', statusCode: 405, message: `${method} is not allowed on ${path}; use ${allow}` });
    }
    const missing = await fetch(`${stack.emitUrl}/v1/nothing`, { method: 'POST' });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 'not_found' });
  });
});

/** A raw HTTP/1.1 client: what it received, and a promise of the close. */
function rawConnection(url: string): { socket: Socket; received: () => string; closed: Promise<void>; opened: Promise<void> } {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  let text = '';
  socket.on('data', (chunk) => (text += String(chunk)));
  socket.on('error', () => undefined);
  return {
    socket,
    received: () => text,
    closed: new Promise((resolve) => socket.once('close', () => resolve())),
    opened: new Promise((resolve) => socket.once('connect', () => resolve())),
  };
}

/** Writes `text` a few bytes at a time, until the connection closes. */
function trickle(socket: Socket, text: string): void {
  let at = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || at >= text.length) return clearInterval(timer);
    socket.write(text.slice(at, at + 2));
    at += 2;
  }, 50);
  socket.once('close', () => clearInterval(timer));
}

describe('HTTP server timeouts and connection cap', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      gateways: 0,
      emitEnv: { HTTP_HEADERS_TIMEOUT_MS: '500', HTTP_REQUEST_TIMEOUT_MS: '1000', MAX_HTTP_CONNECTIONS: '3' },
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('closes a connection trickling its headers with 408 (HTTP_HEADERS_TIMEOUT_MS), and counts it', async () => {
    const before = await refusals(stack, 'http_headers_timeout_ms');
    const conn = rawConnection(stack.emitUrl);
    await conn.opened;
    trickle(conn.socket, `POST /v1/signals HTTP/1.1\r\nhost: x\r\n${'x-slow: 1\r\n'.repeat(1000)}\r\n`);
    await conn.closed;
    expect(conn.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(await refusals(stack, 'http_headers_timeout_ms')).toBe(before + 1);
  });

  it('closes a connection trickling its body with 408 (HTTP_REQUEST_TIMEOUT_MS), logs no error, and counts it', async () => {
    const before = await refusals(stack, 'http_request_timeout_ms');
    const { secretKey } = keysOf(stack, 'alpha');
    const conn = rawConnection(stack.emitUrl);
    await conn.opened;
    const body = JSON.stringify({ to: { channel: 'c' }, message: 'x'.repeat(1000) });
    conn.socket.write(
      `POST /v1/signals HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${secretKey}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
    );
    trickle(conn.socket, body);
    await conn.closed;
    expect(conn.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(await refusals(stack, 'http_request_timeout_ms')).toBe(before + 1);
    expect(errorLines(stack)).toEqual([]);
  });

  it('serves MAX_HTTP_CONNECTIONS connections and closes the next one at once, and counts it', async () => {
    const before = await refusals(stack, 'max_http_connections');
    const held = Array.from({ length: 3 }, () => rawConnection(stack.emitUrl));
    for (const conn of held) {
      conn.socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
      await eventually(() => conn.received().includes('"status":"ok"'), 'a held connection served');
    }
    const extra = rawConnection(stack.emitUrl);
    extra.socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    await extra.closed;
    expect(extra.received()).toBe('');
    expect(await refusals(stack, 'max_http_connections')).toBe(before + 1);

    // A freed slot serves again.
    held[0]!.socket.destroy();
    await held[0]!.closed;
    await eventually(async () => {
      const again = rawConnection(stack.emitUrl);
      again.socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
      await again.closed;
      return again.received().includes('"status":"ok"');
    }, 'a connection served after one closed');
    for (const conn of held) conn.socket.destroy();
  });
});
