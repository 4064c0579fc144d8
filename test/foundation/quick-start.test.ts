import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { freePort } from '@signal/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/poll.js';
import { RpcClient } from '../support/rpc-client.js';
import { CLI_ENTRY } from '../cli/support.js';

/**
 * The README's first command as a new user runs it: `pnpm start` (scripts/dev.mjs after the
 * build), with no NATS_URL, so it starts its own NATS; on free ports so it can run beside
 * anything. What it prints must work as printed.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));
let dev: ChildProcess;
let output = '';
const ports = { gateway: 0, emit: 0 };

beforeAll(async () => {
  ports.gateway = await freePort();
  ports.emit = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GATEWAY_PORT: String(ports.gateway),
    EMIT_API_PORT: String(ports.emit),
    GATEWAY_ADMIN_PORT: String(await freePort()),
    EMIT_API_ADMIN_PORT: String(await freePort()),
    WEBHOOKS_ADMIN_PORT: String(await freePort()),
  };
  for (const name of ['NATS_URL', 'APPS_FILE', 'GATEWAY_PUBLIC_URL']) delete env[name];
  dev = spawn(process.execPath, ['scripts/dev.mjs'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  dev.stdout!.on('data', (chunk: Buffer) => (output += String(chunk)));
  dev.stderr!.on('data', (chunk: Buffer) => (output += String(chunk)));
  await eventually(() => output.includes('Ctrl-C stops everything.') || dev.exitCode !== null, 'pnpm start to print how to connect', 30_000);
  expect(dev.exitCode, output).toBeNull();
}, 40_000);

afterAll(async () => {
  if (dev.exitCode === null) {
    const exited = new Promise((resolve) => dev.once('exit', resolve));
    dev.kill('SIGINT');
    await exited;
  }
});

function printed(pattern: RegExp): string {
  const match = pattern.exec(output);
  if (!match) throw new Error(`not in the output of pnpm start: ${pattern}\n${output}`);
  return match[1]!;
}

describe('pnpm start', () => {
  it('prints a token and commands that work as printed: connect, join, emit, mint', async () => {
    const token = printed(/user token for alice\/web \(24 h\):\s+(\S+)/);
    const secret = printed(/secret key\s+(seck_test_\S+)/);
    expect(printed(/publishable key\s+(pubk_test_\S+)/)).toMatch(/^pubk_test_/);
    expect(output).toContain(`ws://127.0.0.1:${ports.gateway}/v1/connect`);
    // The webhooks dispatcher runs too (docs/webhooks.md).
    expect(output).toMatch(/\[webhooks\] \{.*"msg":"ready"/);

    const alice = await RpcClient.connect(`ws://127.0.0.1:${ports.gateway}/v1/connect?token=${token}`);
    await alice.call('signal.join', { id: 'room-1' });
    // The printed curl command, as fetch: HTTP Basic with the secret key as user name.
    const emitted = await fetch(`http://127.0.0.1:${ports.emit}/v1/signals`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${secret}:`).toString('base64')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: { channel: 'room-1' }, event: 'chat', message: { text: 'hello' } }),
    });
    expect(emitted.status).toBe(202);
    expect((await alice.next((f) => f.method === 'signal.publish')).params).toEqual({ event: 'chat', message: { text: 'hello' }, id: 'room-1' });
    alice.close();

    // Minted tokens name the gateway, so a Bit6 SDK app finds it from the token alone.
    const minted = await fetch(`http://127.0.0.1:${ports.emit}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${secret}:`).toString('base64')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ identity: 'bob', device: 'phone' }),
    });
    expect(minted.status).toBe(201);
    const { token: bobToken } = (await minted.json()) as { token: string };
    const { aud } = JSON.parse(Buffer.from(bobToken.split('.')[1]!, 'base64url').toString()) as { aud: string };
    expect(aud).toBe(`http://127.0.0.1:${ports.gateway}`);
    const bob = await RpcClient.connect(`${aud.replace(/^http/, 'ws')}/signal/v1/pubsub?jwt=${bobToken}`, 'bit6');
    bob.ws.send('_ping');
    await eventually(() => bob.raw.includes('_pong'), 'the Bit6 keepalive answer');
    bob.close();
  });

  it('prints signal commands that work as printed: tail shows what emit sends', async () => {
    const exportLine = printed(/^\s*(export SIGNAL_SECRET_KEY=.*)$/m);
    // As printed, but the built entry instead of `pnpm exec signal`, so the shell execs node itself and SIGINT reaches it.
    const asPrinted = (pattern: RegExp) => printed(pattern).replace('pnpm exec signal', `${process.execPath} ${CLI_ENTRY}`);
    const tail = spawn('sh', ['-c', `${exportLine}\nexec ${asPrinted(/^\s*(pnpm exec signal tail .*)$/m)}`], { cwd: root, env: { PATH: process.env.PATH } });
    let tailOut = '';
    tail.stdout.on('data', (chunk: Buffer) => (tailOut += String(chunk)));
    tail.stderr.on('data', (chunk: Buffer) => (tailOut += String(chunk)));
    try {
      await eventually(() => tailOut.includes('listening to channel room-1'), `the printed tail command to listen: ${tailOut}`);
      const emit = spawn('sh', ['-c', `${exportLine}\n${asPrinted(/^\s*(pnpm exec signal emit .*)$/m)}`], { cwd: root, env: { PATH: process.env.PATH } });
      expect(await new Promise((resolve) => emit.once('exit', resolve))).toBe(0);
      await eventually(() => tailOut.includes('[room-1] (backend): {"event":"chat","message":{"text":"hello"}}'), `tail to print the emit: ${tailOut}`);
    } finally {
      const exited = new Promise((resolve) => tail.once('exit', resolve));
      tail.kill('SIGINT');
      expect(await exited).toBe(0);
    }
  });

  it('stops everything on Ctrl-C', async () => {
    const natsPort = Number(printed(/started nats-server with JetStream at nats:\/\/127\.0\.0\.1:(\d+)/));
    const exited = new Promise<number | null>((resolve) => dev.once('exit', (code) => resolve(code)));
    dev.kill('SIGINT');
    expect(await exited).toBe(0);
    // Its gateway, emit-api and NATS went with it: nothing answers on their ports.
    await expect(fetch(`http://127.0.0.1:${ports.emit}/v1/signals`, { method: 'POST' })).rejects.toThrow();
    await expect(RpcClient.connect(`ws://127.0.0.1:${ports.gateway}/v1/connect`)).rejects.toThrow();
    const natsAnswers = await new Promise<boolean>((resolve) =>
      createConnection(natsPort, '127.0.0.1')
        .once('connect', function (this: Socket) {
          this.destroy();
          resolve(true);
        })
        .once('error', () => resolve(false)),
    );
    expect(natsAnswers).toBe(false);
  });
});
