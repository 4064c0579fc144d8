import { connect, type NatsConnection } from '@nats-io/transport-node';
import { channelSubject, connectionSubject, nodeOfRoute, userSubject, type Scope } from '@signal/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminUrl, eventually, sample, scrape } from '../support/admin.js';
import type { RpcClient } from '../support/rpc-client.js';
import { connectNative, emit, keysOf, mintToken, startStack, type Stack } from '../support/stack.js';
import { connectStelace, postSignal } from '../support/stelace-client.js';

/**
 * Messages published straight onto NATS, past every check of our own (input limits, emit-api
 * validation): whatever arrives, a gateway drops what it cannot handle and keeps delivering.
 * Before the isolation work, one deeply nested envelope stopped a gateway's whole NATS reader.
 */
let stack: Stack;
let raw: NatsConnection;
const scope: Scope = { app: 'alpha', env: 'test' };

beforeAll(async () => {
  stack = await startStack({ gateways: 2 });
  raw = await connect({ servers: stack.nats.url, name: 'poisoner' });
});
afterAll(async () => {
  await raw?.close();
  await stack?.stop();
});

/** `[[[…]]]` nested `depth` deep: JSON.parse takes it, JSON.stringify overflows the stack on it. */
function nested(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

const DEEP = nested(10_000);
const encoder = new TextEncoder();

/** Every kind of payload a stray or hostile publisher could put on a subject we read. */
function poisons(channel: string, from: string): Uint8Array[] {
  return [
    `{"t":"send","fields":{"event":"e","message":${DEEP}}}`,
    `{"t":"send","ch":"${channel}","from":"${from}","fields":{"event":"e","message":${DEEP}}}`,
    `{"t":"publish","ch":"${channel}","fields":{"event":"e","message":${DEEP}}}`,
    `{"t":"join","ch":"${channel}","from":"${from}","state":${DEEP},"rev":999999999}`,
    `{"t":"leave","ch":"${channel}","from":"${from}","rev":"x"}`,
    // A position is a gateway's to give (from the history stream's headers), never a payload's.
    `{"t":"publish","ch":"${channel}","fields":{"event":"e"},"pos":{"offset":1,"epoch":"forged"}}`,
    '{"hello":"not an envelope"}',
    '[]',
    'null',
    '',
  ]
    .map((text) => encoder.encode(text))
    .concat([
      Uint8Array.from([0xff, 0xfe, 0x00, 0x01, 0x80]), // garbage bytes
      Uint8Array.from([0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]), // {"t":"<invalid UTF-8>"}
    ]);
}

async function member(gateway: number, identity: string): Promise<RpcClient> {
  const client = await connectNative(stack, { identity, device: 'web', gateway });
  await client.call('signal.join', { id: 'room', presence: true });
  return client;
}

const dropped = async (gateway: number, labels: Record<string, string>) =>
  sample(await scrape(stack.gateways[gateway]!), 'signal_gateway_dropped_messages_total', labels);

describe('poisoned messages published straight onto NATS', () => {
  it('are dropped and counted; users of the app on both gateways keep receiving backend emits and both stay healthy', async () => {
    const ann = await member(0, 'ann');
    const ben = await member(1, 'ben');
    const { secretKey, publishableKey } = keysOf(stack, 'alpha');
    // carol is on two surfaces of one gateway: her user subject is rendered for both.
    const carolNative = await connectNative(stack, { identity: 'usr_carol', device: 'web', gateway: 1 });
    const carol = await connectStelace(stack, 'v4', { publishableKey, authToken: await mintToken(stack, 'alpha', 'usr_carol', 'app') }, { gateway: 1 });
    const emitTo = (to: Record<string, string>, tag: string) => emit(stack, '/v1/signals', secretKey, { to, event: 'probe', message: { tag } });

    // Delivery works before the poison.
    expect((await emitTo({ channel: 'room' }, 'before')).status).toBe(202);
    for (const c of [ann, ben]) await c.next((f) => (f.params?.message as { tag?: string } | undefined)?.tag === 'before');

    const subjects = [
      userSubject(scope, 'ann'),
      userSubject(scope, 'ben'),
      userSubject(scope, 'usr_carol'),
      channelSubject(scope, 'room'),
      ...[ann, ben].map((c) => {
        const route = c.address.split('/')[2]!;
        return connectionSubject(scope, nodeOfRoute(route)!, route);
      }),
    ];
    for (const subject of subjects) {
      for (const payload of poisons('room', ann.address)) {
        raw.publish(subject, payload);
        // Connection subjects answer requests: the reply must come even for a message that failed.
        if (subject.includes('.ep.')) raw.publish(subject, payload, { reply: `_INBOX.poison.${subject}` });
      }
    }
    // A heartbeat record nobody could have written: the node-liveness watch must skip it.
    raw.publish('$KV.signal_presence_nodes.intruder', encoder.encode(DEEP));
    raw.publish('$KV.signal_presence_nodes.intruder2', Uint8Array.from([0xff, 0x00]));
    await raw.flush();

    // A confirmed send to a connection whose render fails still gets an answer (not found), promptly.
    const annRoute = ann.address.split('/')[2]!;
    const answer = await raw.request(connectionSubject(scope, nodeOfRoute(annRoute)!, annRoute), encoder.encode(`{"t":"send","fields":{"message":${DEEP}}}`), { timeout: 2000 });
    expect(answer.string()).toBe('{"ok":false}');

    // Every later message still arrives, on both gateways, through every kind of subject.
    for (const [to, tag] of [
      [{ user: 'ann' }, 'to-ann'],
      [{ user: 'ben' }, 'to-ben'],
      [{ channel: 'room' }, 'after'],
    ] as const) {
      expect((await emitTo(to, tag)).status).toBe(202);
    }
    const arrived = (c: RpcClient, tag: string) => c.next((f) => (f.params?.message as { tag?: string } | undefined)?.tag === tag, 3000);
    await Promise.all([arrived(ann, 'to-ann'), arrived(ben, 'to-ben'), arrived(ann, 'after'), arrived(ben, 'after')]);
    expect((await emitTo({ connection: ben.address }, 'direct')).status).toBe(202);
    await arrived(ben, 'direct');
    expect((await postSignal(stack, secretKey, { destination: 'usr_carol', message: { tag: 'to-carol' } })).status).toBe(200);
    expect(await carol.client.next('signal', ([payload]) => (payload as { message?: { tag?: string } }).message?.tag === 'to-carol', 3000)).toBeDefined();
    await arrived(carolNative, 'to-carol');

    for (const gateway of [0, 1]) {
      expect((await fetch(`${adminUrl(stack.gateways[gateway]!)}/healthz`)).status).toBe(200);
      await eventually(async () => (await dropped(gateway, { source: 'subject', reason: 'failed' })) > 0, 'failed subject messages to be counted');
      expect(await dropped(gateway, { source: 'subject', reason: 'invalid' })).toBeGreaterThan(0);
      expect(await dropped(gateway, { source: 'connection', reason: 'failed' })).toBeGreaterThan(0);
      expect(await dropped(gateway, { source: 'connection', reason: 'invalid' })).toBeGreaterThan(0);
      expect(await dropped(gateway, { source: 'heartbeat', reason: 'invalid' })).toBeGreaterThan(0);
    }
    // The connections themselves were never touched.
    for (const c of [ann, ben, carolNative]) expect(c.ws.readyState).toBe(c.ws.OPEN);
    expect(carol.client.connected).toBe(true);
    carol.client.close();
  });
});
