#!/usr/bin/env node
// Two users, alice and bob, chat through a running signal stack (`pnpm start` at the repo root).
//
//   SECRET_KEY=seck_test_… node examples/chat-node/chat.mjs            scripted conversation, then exit
//   SECRET_KEY=seck_test_… node examples/chat-node/chat.mjs --as carol  chat interactively as carol
//
// GATEWAY_URL (default ws://127.0.0.1:8080) and EMIT_API_URL (default http://127.0.0.1:8081)
// point at the stack. The secret key stays on the server side in a real app: there, your backend
// mints user tokens and the browser or phone only gets the token provider's result.
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { Signal } from '@signal/client';

const gatewayUrl = process.env.GATEWAY_URL ?? 'ws://127.0.0.1:8080';
const emitApiUrl = process.env.EMIT_API_URL ?? 'http://127.0.0.1:8081';
const secretKey = process.env.SECRET_KEY;
if (!secretKey) {
  console.error('set SECRET_KEY to the secret key `pnpm start` printed (seck_test_…)');
  process.exit(2);
}

/** What your backend does: mint a short-lived token for a user (the SDK asks again before it expires). */
function tokenProvider(identity, device) {
  return async () => {
    const res = await fetch(`${emitApiUrl}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ identity, device, ttl: 600 }),
    });
    const body = await res.json();
    if (res.status !== 201) throw new Error(`minting a token failed: ${res.status} ${body.message}`);
    return body.token;
  };
}

function connect(identity, device) {
  const signal = new Signal(tokenProvider(identity, device), { url: gatewayUrl, WebSocket });
  signal.on('reconnecting', ({ delayMs, error }) => console.log(`[${identity}] ${error.message}; retrying in ${delayMs} ms`));
  signal.on('error', (error) => console.log(`[${identity}] error ${error.code}: ${error.message}`));
  return signal;
}

function joinChat(signal, identity, mood) {
  const room = signal.join('chat', { presence: true, state: { mood } });
  room.on('participant', (p, op) => {
    const verb = op === 1 ? 'joined' : op === -1 ? 'left' : 'joined again';
    console.log(`[${identity}] ${p.identity} ${verb}${p.state ? ` (${p.state.mood})` : ''}`);
    if (op === 1) p.on('state', (state) => console.log(`[${identity}] ${p.identity} is now ${state?.mood}`));
  });
  room.on('message', (m) => console.log(`[${identity}] ${m.from?.split('/')[0] ?? 'backend'}: ${m.text}`));
  signal.on('message', (m) => console.log(`[${identity}] direct from ${m.from?.split('/')[0] ?? 'backend'}: ${m.text}`));
  return room;
}

async function scripted() {
  const alice = connect('alice', 'laptop');
  const bob = connect('bob', 'phone');
  await Promise.all([alice.ready({ timeoutMs: 10_000 }), bob.ready({ timeoutMs: 10_000 })]);
  console.log(`alice is ${alice.address}, bob is ${bob.address}`);

  const aliceRoom = joinChat(alice, 'alice', 'curious');
  await aliceRoom.joined;
  const bobRoom = joinChat(bob, 'bob', 'sleepy');
  const others = await bobRoom.joined;
  console.log(`bob joined with ${others.length} participant(s) already there`);

  const heard = new Promise((resolve) => bobRoom.once('message', resolve));
  await aliceRoom.publish({ text: 'hi bob!' }, { ack: true });
  await heard;

  const direct = new Promise((resolve) => alice.once('message', resolve));
  await bob.send({ to: 'alice', text: 'psst, alice' }, { ack: true });
  await direct;

  const changed = new Promise((resolve) => aliceRoom.participants.get(bob.address).once('state', resolve));
  bobRoom.me.updateState({ mood: 'awake' });
  await changed;

  const left = new Promise((resolve) => aliceRoom.on('participant', (_p, op) => op === -1 && resolve()));
  await bobRoom.leave();
  await left;
  alice.close();
  bob.close();
  console.log('done');
}

async function interactive(identity) {
  const signal = connect(identity, 'terminal');
  const room = joinChat(signal, identity, 'chatty');
  await room.joined;
  console.log(`joined 'chat' as ${signal.address} with ${room.participants.size} other(s); type a line to send, Ctrl-D to quit`);
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (text) => room.publish({ text }));
  lines.on('close', () => signal.close());
}

const asIndex = process.argv.indexOf('--as');
const run = asIndex === -1 ? scripted() : interactive(process.argv[asIndex + 1] ?? 'guest');
run.catch((error) => {
  console.error(`chat failed: ${error.message}`);
  process.exit(1);
});
