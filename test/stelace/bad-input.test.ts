import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keysOf, startStack, type Stack } from '../support/stack.js';
import { connectStelace, postSignal, type ClientVersion } from '../support/stelace-client.js';

/**
 * Malformed Engine.IO and Socket.IO input closes only the offending connection, with a
 * close reason that says what was wrong; the node and its other sockets carry on. Also the
 * HTTP refusals, and heartbeats of both Engine.IO versions kept by the real clients.
 */
let stack: Stack;
let bystander: Awaited<ReturnType<typeof connectStelace>>;

beforeAll(async () => {
  stack = await startStack({
    gateways: 1,
    gatewayEnv: { MAX_FRAME_BYTES: '1024', SOCKETIO_PING_INTERVAL_MS: '250', SOCKETIO_PING_TIMEOUT_MS: '2000' },
  });
  bystander = await connectStelace(stack, 'v4', { publishableKey: keysOf(stack, 'alpha').publishableKey, channels: 'calm' });
});
afterAll(async () => {
  bystander?.client.close();
  await stack?.stop();
});

/** A raw WebSocket speaking Engine.IO by hand, keeping every frame it receives. */
class RawSocket {
  readonly frames: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.frames.push(String(data));
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  }

  static async open(eio: 3 | 4): Promise<RawSocket> {
    const ws = new WebSocket(`${stack.gatewayUrl()}/signal/?EIO=${eio}&transport=websocket`);
    const socket = new RawSocket(ws);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    await socket.next((f) => f.startsWith('0{'));
    return socket;
  }

  async next(match: (frame: string) => boolean, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.frames.findIndex(match);
      if (index !== -1) return this.frames.splice(index, 1)[0]!;
      if (Date.now() > deadline) throw new Error(`no matching frame; got ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

async function stillServing(): Promise<void> {
  const marker = `alive-${Math.random()}`;
  expect((await postSignal(stack, keysOf(stack, 'alpha').secretKey, { destination: 'calm', message: marker })).status).toBe(200);
  await bystander.client.next('signal', (args) => (args[0] as { message: string }).message === marker);
}

describe('malformed packets close only the offending connection', () => {
  it.each([
    ['an empty frame', '', 1002, 'empty Engine.IO packet'],
    ['an unknown Engine.IO type', 'x', 1002, "unknown Engine.IO packet type 'x'"],
    ['an unknown Engine.IO type outside the BMP', '\u{1F600}x', 1002, "unknown Engine.IO packet type '\u{1F600}'"],
    ['an empty Socket.IO packet', '4', 1002, "unknown Socket.IO packet type ''"],
    ['an unknown Socket.IO type', '49', 1002, "unknown Socket.IO packet type '9'"],
    ['an event that is not JSON', '42/signal,["a",', 1002, 'Socket.IO packet data is not valid JSON'],
    ['an event that is not an array', '42/signal,{"a":1}', 1002, 'Socket.IO EVENT data must be an array starting with the event name'],
    ['an ack that is not an array', '43/signal,0{}', 1002, 'Socket.IO ACK data must be an array'],
    ['an ack without id', '43/signal,[{}]', 1002, 'Socket.IO ACK needs an ack id'],
    ['an enormous ack id', '43/signal,99999999999999999999[{}]', 1002, 'Socket.IO ack id is too long'],
    ['a binary event', '451-/signal,["a",{"_placeholder":true,"num":0}]', 1002, 'binary Socket.IO packets are not supported; send JSON values only'],
    ['a client error packet', '44/signal,"x"', 1002, 'clients do not send Socket.IO error packets'],
    ['a CONNECT with non-object data', '40/signal,[1]', 1002, 'Socket.IO CONNECT data must be an object'],
    ['a frame over MAX_FRAME_BYTES', `42/signal,["a","${'x'.repeat(1100)}"]`, 1009, 'frame is over the 1024-byte limit'],
  ])('%s', async (_name, frame, code, reason) => {
    const raw = await RawSocket.open(4);
    raw.ws.send(frame);
    expect(await raw.closed).toEqual({ code, reason });
    await stillServing();
  });

  it('a binary frame', async () => {
    const raw = await RawSocket.open(3);
    raw.ws.send(Buffer.from([4, 1, 2, 3]));
    expect(await raw.closed).toEqual({ code: 1003, reason: 'binary frames are not supported; send Socket.IO text packets' });
    await stillServing();
  });

  it('an authentication answer in the middle of a half-finished handshake', async () => {
    const raw = await RawSocket.open(4);
    raw.ws.send('43/signal,0[{"publishableKey":1}]');
    raw.ws.send('40/nowhere,');
    expect(await raw.next((f) => f.startsWith('44/nowhere,'))).toBe('44/nowhere,{"message":"Invalid namespace; Stelace clients connect to /signal"}');
    raw.ws.send('40/signal,');
    expect(await raw.next((f) => f.startsWith('40/signal,'))).toMatch(/^40\/signal,\{"sid":"[a-z0-9]+-[a-z0-9]+"\}$/);
    const auth = await raw.next((f) => f.startsWith('42/signal,0'));
    raw.ws.send('42/signal,["someEvent",1]');
    raw.ws.send('43/signal,5[{"publishableKey":"x"}]');
    raw.ws.send('43/signal,0["not an object"]');
    expect(auth).toMatch(/^42\/signal,0\["authentication","[a-z0-9]+-[a-z0-9]+"\]$/);
    expect(await raw.next((f) => f.includes('willDisconnect'))).toBe('42/signal,["willDisconnect",{"error":"Missing publishable API key"}]');
    expect(await raw.next((f) => f.startsWith('41'))).toBe('41/signal,');
    expect((await raw.closed).code).toBe(1000);
    await stillServing();
  });

  it('a client that never connects the namespace is closed after the authentication timeout', async () => {
    const raw = await RawSocket.open(3);
    expect(raw.frames).toEqual(['40']);
    expect(await raw.closed).toEqual({ code: 1008, reason: 'connect to namespace /signal within 2000 ms' });
  });
});

describe('HTTP requests that cannot become a Socket.IO session', () => {
  const http = () => stack.gatewayUrl().replace(/^ws:/, 'http:');

  it('refuses long-polling with Engine.IO’s "Transport unknown"', async () => {
    const res = await fetch(`${http()}/signal/?EIO=4&transport=polling`);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      code: 0,
      message: "Transport unknown: 'polling'; only the websocket transport is served, connect with transports: ['websocket']",
    });
  });

  it.each([
    ['EIO=5&transport=websocket', 400, 'Unsupported protocol version: EIO=5'],
    ['transport=websocket', 400, 'Unsupported protocol version: EIO='],
    ['EIO=4&transport=websocket&sid=abc', 400, 'Session ID unknown'],
  ])('refuses the upgrade ?%s', async (query, status, message) => {
    const ws = new WebSocket(`${stack.gatewayUrl()}/signal/?${query}`);
    const refused = await new Promise<{ status: number; body: string }>((resolve) =>
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += String(c)));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      }),
    );
    expect(refused.status).toBe(status);
    expect(String((JSON.parse(refused.body) as { message: string }).message)).toContain(message);
  });

  it('answers 404 for other paths under /signal/, leaving the Bit6 paths alone', async () => {
    const res = await fetch(`${http()}/signal/elsewhere?EIO=4&transport=websocket`);
    expect(res.status).toBe(404);
    const bit6 = new WebSocket(`${stack.gatewayUrl()}/signal/v1/pubsub?jwt=bad`);
    const status = await new Promise<number>((resolve) => bit6.once('unexpected-response', (_req, r) => resolve(r.statusCode!)));
    expect(status).toBe(401);
  });
});

describe('heartbeats', () => {
  it('pings Engine.IO v4 clients and answers Engine.IO v3 pings', async () => {
    const v4 = await RawSocket.open(4);
    for (let i = 0; i < 3; i++) await v4.next((f) => f === '2');
    v4.ws.close();
    const v3 = await RawSocket.open(3);
    v3.ws.send('2');
    expect(await v3.next((f) => f.startsWith('3'))).toBe('3');
    v3.ws.send('2probe');
    expect(await v3.next((f) => f.startsWith('3'))).toBe('3probe');
    v3.ws.close();
  });

  it.each<ClientVersion>(['v2', 'v4'])('socket.io-client %s stays connected across many heartbeats', async (version) => {
    const { client, id } = await connectStelace(stack, version, { publishableKey: keysOf(stack, 'alpha').publishableKey });
    // Pings every 250 ms with a 2000 ms timeout: outliving 12 server pings outlives a missed heartbeat.
    const watch = await RawSocket.open(4);
    watch.ws.send('40/signal,');
    await watch.next((f) => f.startsWith('42/signal,0["authentication"'));
    watch.ws.send(`43/signal,0[${JSON.stringify({ publishableKey: keysOf(stack, 'alpha').publishableKey })}]`);
    for (let i = 0; i < 12; i++) await watch.next((f) => f === '2');
    watch.ws.close();
    expect(client.connected).toBe(true);
    expect((await postSignal(stack, keysOf(stack, 'alpha').secretKey, { destination: id, message: 'still here' })).status).toBe(200);
    expect(await client.next('signal')).toEqual([{ message: 'still here', event: 'signal', env: 'test' }]);
    client.close();
  });
});

describe('clean disconnects', () => {
  it.each<ClientVersion>(['v2', 'v4'])('socket.io-client %s leaving frees its id', async (version) => {
    const { client, id } = await connectStelace(stack, version, { publishableKey: keysOf(stack, 'alpha').publishableKey, channels: `${version}-bye` });
    client.close();
    const deadline = Date.now() + 10_000;
    let status = 200;
    while (status === 200 && Date.now() < deadline) {
      status = (await postSignal(stack, keysOf(stack, 'alpha').secretKey, { destination: id, message: 'gone?' })).status;
    }
    expect(status).toBe(404);
    expect((await postSignal(stack, keysOf(stack, 'alpha').secretKey, { destination: `${version}-bye` })).status).toBe(404);
  });
});
