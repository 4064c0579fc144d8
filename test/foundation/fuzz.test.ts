import fc from 'fast-check';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calmChannel } from '../support/calm-channel.js';
import { RpcClient, type Frame } from '../support/rpc-client.js';
import { keysOf, mintToken, startStack, type Stack } from '../support/stack.js';

/**
 * Generated garbage, thousands of frames and bodies, at every surface of one real gateway and
 * emit-api: nothing may crash, nothing may fail as an internal error, every JSON-RPC request
 * gets exactly one answer, and a bystander keeps receiving throughout. FUZZ_SEED replays a run.
 */
// Fixed by default so a CI run is repeatable; any other seed explores further.
const seed = Number(process.env.FUZZ_SEED ?? 20261123);
const sample = <T>(arbitrary: fc.Arbitrary<T>, numRuns: number, offset: number): T[] => fc.sample(arbitrary, { numRuns, seed: seed + offset });

let stack: Stack;
let stillServing: () => Promise<void>;

beforeAll(async () => {
  // Frames up to 4 × MAX_FRAME_BYTES reach the gateway's checks, so 10,000-deep ones meet the depth limit.
  // Frames come in bursts of thousands here: the frame rate is lifted so every one is read.
  stack = await startStack({ gateways: 1, gatewayEnv: { MAX_FRAME_BYTES: '32768', FRAME_RATE: '1000000', FRAME_BURST: '1000000' } });
  ({ stillServing } = await calmChannel(stack));
});
afterAll(async () => {
  await stack?.stop();
});

function noInternalErrors(): void {
  const failures = stack.gateways[0]!.lines().concat(stack.emitApi.lines()).filter((l) => /"level":(50|60)/.test(l));
  expect(failures, `error-level log lines (FUZZ_SEED=${seed})`).toEqual([]);
}

const names = fc.constantFrom('id', 'token', 'to', 'presence', 'state', 'event', 'message', 'data', 'type', 'channel', '__proto__', 'constructor');
const value = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom('calm', 'x', '', 'a/b', 'a/b/c', 'a/b/c/d', '..', '*', '>', 'sig.>', 'usr_1', '\u0000', '😀'.repeat(3)),
  fc.string({ unit: 'binary', maxLength: 40 }),
);
const params = fc.oneof(fc.dictionary(fc.oneof(names, fc.string({ maxLength: 6 })), value, { maxKeys: 5 }), value);
const methods = fc.oneof(
  fc.constantFrom('signal.join', 'signal.leave', 'signal.publish', 'signal.send', 'signal.auth', 'join', 'signal.', 'signal.connected', 'rpc.x'),
  fc.string({ maxLength: 12 }),
);

/** A JSON-RPC-shaped frame; `answer` says it is a request the server must answer once. */
interface Generated {
  text: string;
  answerId?: number;
}

function jsonRpcFrames(count: number, offset: number): Generated[] {
  let nextId = 1_000_000;
  const shaped = fc.record(
    {
      jsonrpc: fc.constantFrom('2.0', '2.0', '2.0', '1.0', 2),
      request: fc.boolean(),
      method: methods,
      params,
      oddId: fc.oneof(fc.constant(undefined), fc.constant(null), fc.jsonValue({ maxDepth: 1 })),
    },
    { requiredKeys: ['jsonrpc', 'request', 'method', 'params'] },
  );
  const frame = fc.oneof(
    { weight: 6, arbitrary: shaped.map((f) => ({ kind: 'shaped' as const, f })) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => ({ kind: 'text' as const, text: JSON.stringify(v) })) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((text) => ({ kind: 'text' as const, text })) },
    { weight: 1, arbitrary: shaped.map((f) => ({ kind: 'text' as const, text: JSON.stringify(f).slice(0, Math.max(1, JSON.stringify(f).length - 3)) })) },
  );
  return sample(frame, count, offset).map((g): Generated => {
    if (g.kind === 'text') return { text: g.text === '_ping' ? '_ping ' : g.text };
    const { jsonrpc, request, method, params: p, oddId } = g.f;
    if (request && oddId === undefined) {
      const id = nextId++;
      // Only a well-formed request is owed exactly one answer carrying its id.
      return { text: JSON.stringify({ jsonrpc, id, method, params: p }), ...(jsonrpc === '2.0' ? { answerId: id } : {}) };
    }
    return { text: JSON.stringify({ jsonrpc, method, params: p, ...(request ? { id: oddId } : {}) }) };
  });
}

async function fuzzJsonRpc(client: RpcClient, count: number, offset: number): Promise<void> {
  await sendAndCheck(client, jsonRpcFrames(count, offset));
}

/** Sends the frames, then checks every request was answered exactly once and none failed internally. */
async function sendAndCheck(client: RpcClient, frames: Generated[]): Promise<void> {
  for (const [i, { text }] of frames.entries()) {
    client.ws.send(text);
    if (i % 25 === 24) await new Promise((resolve) => setImmediate(resolve));
  }
  const owed = frames.flatMap((f) => (f.answerId === undefined ? [] : [f.answerId]));
  for (const id of owed) await client.next((f: Frame) => f.id === id && f.method === undefined, 15_000);
  const answers = client.frames.filter((f) => f.method === undefined);
  expect(answers.filter((f) => owed.includes(f.id as number)), `requests answered twice (FUZZ_SEED=${seed})`).toEqual([]);
  for (const f of client.frames) {
    expect(f.jsonrpc).toBe('2.0');
    if (f.error) {
      expect(f.error.code, `internal error for a frame (FUZZ_SEED=${seed}): ${JSON.stringify(f)}`).not.toBe(-32603);
      expect(typeof f.error.message === 'string' && f.error.message.length > 0).toBe(true);
    }
  }
  expect(client.ws.readyState).toBe(WebSocket.OPEN);
}

/**
 * JSON text that stresses structure rather than content: nesting around and far past
 * MAX_JSON_DEPTH (default 32) and past where stringifying overflows the stack, wide arrays and
 * objects, numbers no double holds, long strings, and odd Unicode (lone surrogates, BOM, NUL,
 * astral characters). Some of it is not valid JSON on purpose (a raw NUL or a leading BOM).
 */
const MAX_JSON_DEPTH = 32;
function nest(depth: number, kind: 'array' | 'object' | 'mixed', inner: string): string {
  const opener = (i: number) => (kind === 'array' || (kind === 'mixed' && i % 2 === 0) ? '[' : '{"k":');
  const closer = (i: number) => (kind === 'array' || (kind === 'mixed' && i % 2 === 0) ? ']' : '}');
  let open = '';
  let close = '';
  for (let i = 0; i < depth; i++) {
    open += opener(i);
    close = closer(i) + close;
  }
  return open + inner + close;
}
const deep = fc
  .tuple(
    fc.constantFrom(MAX_JSON_DEPTH - 3, MAX_JSON_DEPTH - 2, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 200, 4500, 10_000),
    fc.constantFrom('array', 'object', 'mixed') as fc.Arbitrary<'array' | 'object' | 'mixed'>,
    fc.constantFrom('0', '"x"', '[]', '{}', 'null'),
  )
  .map(([depth, kind, inner]) => nest(depth, kind, inner));
const wide = fc.oneof(
  fc.constantFrom(1000, 5000).map((n) => `[${Array(n).fill('0').join(',')}]`),
  fc.constantFrom(500, 2000).map((n) => `{${Array.from({ length: n }, (_, i) => `"k${i}":${i}`).join(',')}}`),
  fc.constantFrom(300, 1000).map((n) => `[${Array(n).fill('[[{"a":[]}]]').join(',')}]`),
);
const hugeNumbers = fc.constantFrom('1e400', '-1e400', '-0', '-0.0', '1e-400', `0.${'0'.repeat(300)}1`, '9'.repeat(400), `-${'9'.repeat(400)}`, '123456789012345678901234567890', '1E+308', '2.2250738585072014e-308');
const longStrings = fc.oneof(
  fc.constantFrom(1000, 10_000, 30_000).map((n) => JSON.stringify('x'.repeat(n))),
  fc.constantFrom(100, 5000).map((n) => JSON.stringify('😀𝄞'.repeat(n))),
);
const oddUnicode = fc.constantFrom(
  '"\\ud800"',
  '"a\\udfffb"',
  '"\\udc00\\ud800"',
  '"\\ud83d\\ude00"',
  '"\\u0000"',
  '"\\uFEFF"',
  '"\uFEFFbom"',
  '"a\u0000b"',
  '\uFEFF[]',
  '"𝄞😀\u200b\u202e"',
  '{"\\ud800":1}',
  '"\\u"',
);
const structuralPiece = fc.oneof(deep, wide, hugeNumbers, longStrings, oddUnicode);
const structural = fc.oneof(
  { weight: 4, arbitrary: structuralPiece },
  { weight: 1, arbitrary: fc.array(structuralPiece, { minLength: 2, maxLength: 3 }).map((parts) => `[${parts.join(',')}]`) },
);
/** Names that must be refused or kept apart: lone surrogates (as JSON escapes), U+FFFD, astral characters. */
const oddName = fc.constantFrom('"fz"', '"fz\\ud800"', '"\\udfff"', '"fz\uFFFD"', '"fz😀"', '"fz/\\ud800"', '"\\ud800/d"');

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function structuralFrames(count: number, offset: number): Generated[] {
  let nextId = 2_000_000;
  const frame = fc.tuple(
    fc.constantFrom('publish', 'send', 'join-state', 'join', 'params'),
    structural,
    oddName,
    fc.boolean(),
  );
  return sample(frame, count, offset).map(([kind, piece, name, request]) => {
    const params = {
      publish: `{"id":"fz","m":${piece}}`,
      send: `{"to":${name},"m":${piece}}`,
      'join-state': `{"id":${name},"presence":true,"state":{"s":${piece}}}`,
      join: `{"id":${name},"extra":${piece}}`,
      params: piece,
    }[kind];
    const id = nextId++;
    const text = `{"jsonrpc":"2.0",${request ? `"id":${id},` : ''}"method":"signal.${kind.startsWith('join') ? 'join' : kind === 'params' ? 'publish' : kind}","params":${params}}`;
    // Only a request that is valid JSON is owed an answer with its id.
    return request && isJson(text) ? { text, answerId: id } : { text };
  });
}

describe('fuzzing every surface', () => {
  it('native JSON-RPC: 1500 generated frames, every request answered once, no internal error', async () => {
    const client = await RpcClient.connect(`${stack.gatewayUrl()}/v1/connect?token=${await mintToken(stack, 'alpha', 'fuzz', 'native')}`);
    await fuzzJsonRpc(client, 1500, 1);
    client.close();
    await stillServing();
    noInternalErrors();
  });

  it('Bit6 JSON-RPC: 1500 generated frames, every request answered once, no internal error', async () => {
    const client = await RpcClient.connect(`${stack.gatewayUrl()}/signal/v1/pubsub?jwt=${await mintToken(stack, 'alpha', 'fuzz', 'bit6')}`, 'bit6');
    await fuzzJsonRpc(client, 1500, 2);
    client.close();
    await stillServing();
    noInternalErrors();
  });

  it.each([
    ['native', '/v1/connect?token='],
    ['bit6', '/signal/v1/pubsub?jwt='],
  ] as const)('%s JSON-RPC: 300 structurally hostile frames, every request answered once, no internal error', async (dialect, path) => {
    const client = await RpcClient.connect(`${stack.gatewayUrl()}${path}${await mintToken(stack, 'alpha', 'structure', dialect)}`, dialect);
    await client.call('signal.join', { id: 'fz' });
    await sendAndCheck(client, structuralFrames(300, dialect === 'native' ? 11 : 12));
    client.close();
    await stillServing();
    noInternalErrors();
  });

  it('Socket.IO: 150 sessions of structurally hostile packets and handshake answers close at most the offender', async () => {
    const key = keysOf(stack, 'alpha').publishableKey;
    const packet = fc.oneof(
      structural.map((piece) => `42/signal,["e",${piece}]`),
      structural.map((piece) => `42/signal,3[${piece}]`),
      structural.map((piece) => `43/signal,0[${piece}]`),
      structural.map((piece) => `40/signal,${piece}`),
      fc.tuple(structural, oddName).map(([piece, name]) => `43/signal,0[{"publishableKey":"${key}","channels":[${name},"calm"],"x":${piece}}]`),
    );
    const sessions = sample(fc.tuple(fc.constantFrom(3, 4), fc.array(packet, { minLength: 1, maxLength: 4 })), 150, 13);
    const closes = await playSessions(sessions.map(([eio, packets]) => [eio, ['40/signal,', ...packets]]));
    expect(closes.filter((code) => code === 1006).length, `sessions cut without a close frame (FUZZ_SEED=${seed})`).toBe(0);
    await stillServing();
    noInternalErrors();
  });

  it('Socket.IO: 300 sessions of generated Engine.IO / Socket.IO packets close at most the offender', async () => {
    const key = keysOf(stack, 'alpha').publishableKey;
    const packet = fc.oneof(
      fc.constantFrom('2', '3', '40/signal,', '41/signal,', '6', '5', `42/signal,0["authentication",{"publishableKey":"${key}","channels":"calm"}]`),
      fc.tuple(fc.constantFrom('4', '42', '43', '40', '2', '42/signal,', '43/signal,', '40/signal,', '42/signal,7'), fc.jsonValue({ maxDepth: 3 })).map(
        ([head, body]) => head + JSON.stringify(body),
      ),
      fc.tuple(fc.constantFrom('42/signal,', '43/signal,1', '4'), fc.string({ unit: 'binary', maxLength: 60 })).map(([h, t]) => h + t),
      fc.string({ unit: 'binary', maxLength: 60 }),
    );
    const sessions = sample(fc.tuple(fc.constantFrom(3, 4), fc.array(packet, { minLength: 1, maxLength: 12 })), 300, 3);
    const closes = await playSessions(sessions);
    // Refusals close with a code, never by crashing the node (which every socket would see as 1006).
    expect(closes.filter((code) => code === 1006).length, `sessions cut without a close frame (FUZZ_SEED=${seed})`).toBe(0);
    await stillServing();
    noInternalErrors();
  });

  it('emit API: 300 structurally hostile bodies are answered 2xx or 4xx with a reason, never 5xx', async () => {
    const { secretKey } = keysOf(stack, 'alpha');
    type Request = [path: string, type: string, text: string];
    const request = fc.oneof<fc.Arbitrary<Request>[]>(
      structural.map((piece) => ['/v1/signals', 'application/json', `{"to":{"channel":"fz"},"event":"e","message":${piece}}`]),
      fc.tuple(structural, oddName).map(([piece, name]) => ['/v1/signals', 'application/json', `{"signals":[{"to":{"user":${name}},"message":${piece}},{"to":{"device":${name}}}]}`]),
      structural.map((piece) => ['/signal', 'application/json', `{"destination":"fz","message":${piece}}`]),
      structural.map((piece) => ['/signal', 'application/x-www-form-urlencoded', `destination=fz&message=${encodeURIComponent(piece)}`]),
      fc.tuple(structural, oddName).map(([piece, name]) => ['/v1/tokens', 'application/json', `{"identity":${name},"device":${name},"grants":${piece}}`]),
      structural.map((piece) => ['/v1/signals', 'application/json', piece]),
    );
    for (const [path, type, text] of sample(request, 300, 14)) {
      const res = await fetch(`${stack.emitUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${secretKey}`, 'content-type': type }, body: text });
      const answer = await res.text();
      expect(res.status, `${path} ${type} ${text.slice(0, 200)} → ${answer} (FUZZ_SEED=${seed})`).toBeLessThan(500);
      if (res.status >= 400) expect(answer.length).toBeGreaterThan(0);
    }
    await stillServing();
    noInternalErrors();
  });

  it('emit API: 600 generated bodies are answered 2xx or 4xx with a reason, never 5xx', async () => {
    const { secretKey } = keysOf(stack, 'alpha');
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }).map((v) => ({ type: 'application/json', text: JSON.stringify(v) })),
      fc.record({ to: fc.dictionary(names, value, { maxKeys: 3 }), event: value, message: value, signals: fc.array(value, { maxLength: 3 }) }, { requiredKeys: [] }).map((v) => ({
        type: 'application/json',
        text: JSON.stringify(v),
      })),
      fc.dictionary(fc.oneof(names, fc.constantFrom('destination', 'identity', 'ttl', 'grants', 'device', 'capability', 'send', 'channel', 'operations', 'jti', 'user', 'before', 'connection')), value, { maxKeys: 4 }).map((v) => ({
        type: 'application/json',
        text: JSON.stringify(v),
      })),
      fc.string({ unit: 'binary', maxLength: 200 }).map((text) => ({ type: 'application/x-www-form-urlencoded', text })),
      fc.string({ unit: 'binary', maxLength: 200 }).map((text) => ({ type: 'text/plain', text })),
    );
    const requests = sample(fc.tuple(fc.constantFrom('/v1/signals', '/signal', '/v1/tokens', '/v1/channel-tokens', '/v1/revocations', '/v1/disconnect'), body), 600, 4);
    for (const [path, { type, text }] of requests) {
      const res = await fetch(`${stack.emitUrl}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secretKey}`, 'content-type': type },
        body: text,
      });
      const answer = await res.text();
      expect(res.status, `${path} ${type} ${JSON.stringify(text)} → ${answer} (FUZZ_SEED=${seed})`).toBeLessThan(500);
      if (res.status >= 400) expect(answer.length).toBeGreaterThan(0);
    }
    await stillServing();
    noInternalErrors();
  });
});

/** Plays each session's packets on a raw Engine.IO WebSocket, then closes; resolves with every close code. */
function playSessions(sessions: ReadonlyArray<readonly [number, readonly string[]]>): Promise<number[]> {
  return Promise.all(
    sessions.map(async ([eio, packets]) => {
      const ws = new WebSocket(`${stack.gatewayUrl()}/signal/?EIO=${eio}&transport=websocket`);
      const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
      ws.on('error', () => undefined);
      await new Promise((resolve) => ws.once('open', resolve));
      for (const p of packets) ws.send(p);
      ws.close();
      return closed;
    }),
  );
}
