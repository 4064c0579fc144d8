import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startService } from '@signal/harness';
import { GATEWAY_ENTRY, keysOf, serviceEnv, startStack, type Stack } from '../support/stack.js';
import { RpcClient } from '../support/rpc-client.js';
import { client, closeClients, waitFor } from '../sdk/support.js';
import { RunningCli, runCli } from './support.js';

/** Token, emit, presence, occupancy, tail and nodes, each run as `node packages/cli/dist/main.js …` against a real stack. */
let stack: Stack;
let env: Record<string, string>;
const dir = mkdtempSync(join(tmpdir(), 'signal-cli-'));
const running: RunningCli[] = [];
/** Gateways a test killed: their heartbeat records stay until swept, so `nodes` tests leave them out. */
const killed = new Set<unknown>();

beforeAll(async () => {
  stack = await startStack({ gateways: 1 });
  env = { SIGNAL_EMIT_URL: stack.emitUrl, SIGNAL_SECRET_KEY: keysOf(stack, 'alpha').secretKey, SIGNAL_GATEWAY_URL: stack.gatewayUrl(0) };
});
afterEach(async () => {
  closeClients();
  for (const cli of running.splice(0)) {
    cli.child.kill('SIGKILL');
    await cli.exited;
  }
});
afterAll(async () => {
  await stack?.stop();
});

const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

describe('signal token', () => {
  it('prints a token the gateway accepts, for the identity and device asked', async () => {
    const { code, stdout, stderr } = await runCli(['token', '--identity', 'alice', '--device', 'web'], { env });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const token = stdout.trim();
    expect(claims(token).sub).toBe('alice/web');
    const connection = await RpcClient.connect(`${stack.gatewayUrl(0)}/v1/connect?token=${token}`);
    expect(connection.address).toMatch(/^alice\/web\//);
    connection.ws.close();
  });

  it('--json prints { token, sub, expiresAt, env, jti }, with the ttl, capability and send rule asked', async () => {
    const { code, stdout } = await runCli(
      ['token', '--identity', 'bob', '--ttl', '600', '--capability', '{"room-*":["subscribe","publish"]}', '--send', 'carol,dave-*', '--json'],
      { env },
    );
    expect(code).toBe(0);
    const answer = JSON.parse(stdout) as { token: string; sub: string; expiresAt: number; env: string; jti: string };
    expect(Object.keys(answer).sort()).toEqual(['env', 'expiresAt', 'jti', 'sub', 'token']);
    expect(answer).toMatchObject({ sub: 'bob', env: 'test' });
    const c = claims(answer.token);
    expect(c.exp).toBe(answer.expiresAt);
    expect(c.jti).toBe(answer.jti);
    // iat has millisecond precision, exp whole seconds: the lifetime is the ttl, less under a second.
    expect((c.exp as number) - (c.iat as number)).toBeGreaterThan(599);
    expect((c.exp as number) - (c.iat as number)).toBeLessThanOrEqual(600);
    expect(c.capability).toEqual({ 'room-*': ['subscribe', 'publish'] });
    expect(c.send).toEqual(['carol', 'dave-*']);
  });

  it('reads the secret key from --secret-key-file', async () => {
    const file = join(dir, 'key');
    writeFileSync(file, `${keysOf(stack, 'beta').secretKey}\n`);
    const { code, stdout } = await runCli(['token', '--identity', 'alice', '--secret-key-file', file, '--json'], {
      env: { SIGNAL_EMIT_URL: stack.emitUrl },
    });
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as { env: string }).env).toBe('test');
  });

  it('a wrong secret key exits 1 with the 401, its code and what to check', async () => {
    const { code, stdout, stderr } = await runCli(['token', '--identity', 'alice'], { env: { ...env, SIGNAL_SECRET_KEY: 'seck_test_nottherightkeyatall0000' } });
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/401 unauthorized/);
    expect(stderr).toMatch(/SIGNAL_SECRET_KEY/);
  });

  it('no secret key is a usage error (2) naming SIGNAL_SECRET_KEY and --secret-key-file', async () => {
    const { code, stderr } = await runCli(['token', '--identity', 'alice'], { env: { SIGNAL_EMIT_URL: stack.emitUrl } });
    expect(code).toBe(2);
    expect(stderr).toMatch(/SIGNAL_SECRET_KEY.*--secret-key-file/);
  });

  it('a missing --secret-key-file exits 3 naming the file', async () => {
    const missing = join(dir, 'no-such-key');
    const { code, stderr } = await runCli(['token', '--identity', 'alice', '--secret-key-file', missing], { env });
    expect(code).toBe(3);
    expect(stderr).toContain(`--secret-key-file ${missing}: no such file`);
  });

  it('an unknown flag exits 2 with a hint to --help', async () => {
    const { code, stderr } = await runCli(['token', '--identity', 'alice', '--secret-key', 'seck_test_x'], { env });
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown option '--secret-key'/);
    expect(stderr).toMatch(/--help/);
  });

  it('a missing --identity, a bad --ttl and malformed --capability JSON are usage errors (2)', async () => {
    for (const args of [['token'], ['token', '--identity', 'a', '--ttl', 'soon'], ['token', '--identity', 'a', '--capability', '{room']]) {
      const { code, stderr } = await runCli(args, { env });
      expect(code, args.join(' ')).toBe(2);
      expect(stderr).toMatch(/identity|--ttl|--capability is not valid JSON/);
    }
  });

  it("what emit-api refuses exits 1 with its code, message and field", async () => {
    const { code, stderr } = await runCli(['token', '--identity', 'alice', '--capability', '{"room-*":["fly"]}'], { env });
    expect(code).toBe(1);
    expect(stderr).toMatch(/400 bad_request: .*\(field capability/);
  });

  it('an emit-api nobody listens on exits 1 saying so, with the option and variable to fix', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const { code, stderr } = await runCli(['token', '--identity', 'alice', '--url', url], { env });
    expect(code).toBe(1);
    expect(stderr).toContain(`cannot reach emit-api at ${url} (ECONNREFUSED)`);
    expect(stderr).toMatch(/--url or SIGNAL_EMIT_URL/);
  });

  it('a server at --url that answers 200 with something else exits 1, asking whether it is emit-api', async () => {
    const other = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
      for (const args of [['token', '--identity', 'alice'], ['emit', '--user', 'a', '--message', '1'], ['occupancy', 'room']]) {
        const { code, stdout, stderr } = await runCli([...args, '--url', url], { env });
        expect(code, args[0]).toBe(1);
        expect(stdout).toBe('');
        expect(stderr).toContain(`from ${url}: is --url (SIGNAL_EMIT_URL) an emit-api?`);
      }
    } finally {
      other.close();
    }
  });
});

describe('signal emit', () => {
  it('emits to a channel with --message, and --json prints { accepted, deliveries }', async () => {
    const bob = client(stack, 'bob', 'web');
    const room = bob.join('cli-room');
    await room.joined;
    const got: unknown[] = [];
    room.on('message', (m) => got.push(m));
    const { code, stdout } = await runCli(['emit', '--channel', 'cli-room', '--event', 'chat', '--message', '{"text":"hello"}', '--json'], { env });
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ accepted: 1, deliveries: 1 });
    await waitFor('bob to get the channel message', () => got.length === 1);
    expect(got[0]).toEqual({ id: 'cli-room', event: 'chat', message: { text: 'hello' } });
  });

  it('emits to a user, device and connection, the message read from stdin', async () => {
    const carol = client(stack, 'carol', 'phone');
    await carol.ready();
    const got: unknown[] = [];
    carol.on('message', (m) => got.push(m));
    const targets = [['--user', 'carol'], ['--device', 'carol/phone'], ['--connection', carol.address!]];
    for (const [flag, to] of targets) {
      const { code, stdout } = await runCli(['emit', flag!, to!], { env, input: `{"via":"${flag}"}\n` });
      expect(code, flag).toBe(0);
      expect(stdout).toBe('accepted 1 signal (1 delivery)\n');
    }
    await waitFor('carol to get three signals', () => got.length === 3);
    expect(got).toEqual(targets.map(([flag]) => ({ event: 'signal', message: { via: flag } })));
  });

  it('--broadcast reaches everyone with a key allowed to, and exits 1 with 403 forbidden without the permission', async () => {
    const dave = client(stack, 'dave', 'web');
    await dave.ready();
    const got: unknown[] = [];
    dave.on('message', (m) => got.push(m));
    expect((await runCli(['emit', '--broadcast', '--message', '{"all":1}'], { env })).code).toBe(0);
    await waitFor('dave to get the broadcast', () => got.length === 1);

    const refused = await runCli(['emit', '--broadcast', '--message', '{"all":1}'], { env: { ...env, SIGNAL_SECRET_KEY: keysOf(stack, 'beta').secretKey } });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/403 forbidden: this secret key lacks the 'broadcast' permission/);
  });

  it('malformed JSON, no message, no destination or two destinations are usage errors (2), and nothing is sent', async () => {
    const cases: Array<[string[], string | undefined, RegExp]> = [
      [['emit', '--channel', 'x', '--message', '{"text":'], undefined, /--message is not valid JSON/],
      [['emit', '--channel', 'x'], '{nope', /stdin is not valid JSON/],
      [['emit', '--channel', 'x'], undefined, /no message: pass --message <json> or pipe/],
      [['emit', '--message', '{}'], undefined, /exactly one destination.*\(got 0\)/],
      [['emit', '--user', 'a', '--channel', 'x', '--message', '{}'], undefined, /exactly one destination.*\(got 2\)/],
    ];
    for (const [args, input, error] of cases) {
      const { code, stdout, stderr } = await runCli(args, { env, input });
      expect(code, args.join(' ')).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toMatch(error);
    }
  });

  it('a bad address exits 1 with emit-api\'s message', async () => {
    const { code, stderr } = await runCli(['emit', '--device', 'justone', '--message', '{}'], { env });
    expect(code).toBe(1);
    expect(stderr).toMatch(/400 bad_request: .*identity\/device/);
  });
});

describe('signal revoke and disconnect', () => {
  it('revoke --jti closes the connection of that token with 4003, and it is refused from then on', async () => {
    const minted = JSON.parse((await runCli(['token', '--identity', 'rita', '--json'], { env })).stdout) as { token: string; jti: string };
    const connection = await RpcClient.connect(`${stack.gatewayUrl(0)}/v1/connect?token=${minted.token}`);
    const { code, stdout } = await runCli(['revoke', '--jti', minted.jti, '--json'], { env });
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ revoked: 'token', jti: minted.jti, env: 'test' });
    expect((await connection.closed).code).toBe(4003);
    await expect(RpcClient.connect(`${stack.gatewayUrl(0)}/v1/connect?token=${minted.token}`)).rejects.toThrow(/^401 .*revoked/);
  });

  it('revoke --user says what it revoked; disconnect --user closes with 4004', async () => {
    const token = (await runCli(['token', '--identity', 'sam'], { env })).stdout.trim();
    const connection = await RpcClient.connect(`${stack.gatewayUrl(0)}/v1/connect?token=${token}`);
    const disconnected = await runCli(['disconnect', '--user', 'sam'], { env });
    expect(disconnected).toMatchObject({ code: 0, stdout: 'disconnecting user sam in test\n' });
    expect((await connection.closed).code).toBe(4004);
    const revoked = await runCli(['revoke', '--user', 'sam'], { env });
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(/^revoked every token of sam issued before \d{4}-.*; the entry expires at /);
  });

  it('refuses contradictory or missing flags with exit 2, before asking the emit-api', async () => {
    for (const args of [['revoke'], ['revoke', '--jti', 'a', '--user', 'b'], ['revoke', '--jti', 'a', '--before', '1'], ['revoke', '--user', 'b', '--before', 'soon'], ['disconnect'], ['disconnect', '--user', 'a', '--device', 'a/b']]) {
      const { code, stderr } = await runCli(args, { env: { ...env, SIGNAL_EMIT_URL: 'http://127.0.0.1:1' } });
      expect(code, args.join(' ')).toBe(2);
      expect(stderr).toMatch(/--jti|--user|--before|--device|--connection/);
    }
  });
});

describe('signal presence and occupancy', () => {
  it('list who is in a channel, with states, in text and --json', async () => {
    const erin = client(stack, 'erin', 'web');
    const room = erin.join('cli-lobby', { presence: true, state: { mood: 'calm' } });
    await room.joined;

    const json = await runCli(['presence', 'cli-lobby', '--json'], { env });
    expect(json.code).toBe(0);
    const answer = JSON.parse(json.stdout) as { channel: string; participants: Array<Record<string, unknown>> };
    expect(answer.channel).toBe('cli-lobby');
    expect(answer.participants).toEqual([{ address: erin.address, identity: 'erin', device: 'web', joinedAt: expect.any(Number), state: { mood: 'calm' } }]);

    const text = await runCli(['presence', 'cli-lobby'], { env });
    expect(text.stdout.split('\n')[0]).toMatch(/^ADDRESS\s+JOINED\s+STATE$/);
    expect(text.stdout).toContain(`${erin.address}`);
    expect(text.stdout).toContain('{"mood":"calm"}');

    expect(await runCli(['occupancy', 'cli-lobby'], { env })).toMatchObject({ code: 0, stdout: '1\n' });
    expect(JSON.parse((await runCli(['occupancy', 'cli-lobby', '--json'], { env })).stdout)).toEqual({ channel: 'cli-lobby', connections: 1, participants: 1 });
  });

  it('an empty channel has nobody and occupancy 0; a bad channel name exits 1 with emit-api\'s message', async () => {
    expect(await runCli(['presence', 'cli-empty'], { env })).toMatchObject({ code: 0, stdout: 'nobody in cli-empty\n' });
    expect(await runCli(['occupancy', 'cli-empty'], { env })).toMatchObject({ code: 0, stdout: '0\n' });
    const badOccupancy = await runCli(['occupancy', 'x'.repeat(257)], { env });
    expect(badOccupancy.code).toBe(1);
    expect(badOccupancy.stderr).toMatch(/400 bad_request: channel: must be at most 256 characters/);
    const bad = await runCli(['presence', 'x'.repeat(257)], { env });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/400 bad_request: channel: must be at most 256 characters/);
  });

  it('a missing channel argument is a usage error (2)', async () => {
    const { code, stderr } = await runCli(['occupancy'], { env });
    expect(code).toBe(2);
    expect(stderr).toMatch(/missing required argument 'channel'/);
  });
});

describe('signal tail', () => {
  it('prints what is emitted to a channel, and joins and leaves with --presence, as JSON lines; exits 0 on SIGINT', async () => {
    const tail = new RunningCli(['tail', '--channel', 'cli-tail', '--presence', '--json'], env);
    running.push(tail);
    await tail.line('stderr', (l) => l.startsWith('listening to channel cli-tail with presence as signal-cli/tail/'));

    expect((await runCli(['emit', '--channel', 'cli-tail', '--event', 'chat', '--message', '{"text":"hi"}'], { env })).code).toBe(0);
    const message = JSON.parse(await tail.line('stdout', (l) => l.includes('"message"'))) as unknown;
    expect(message).toEqual({ type: 'message', channel: 'cli-tail', data: { event: 'chat', message: { text: 'hi' } } });

    const frank = client(stack, 'frank', 'web');
    await frank.join('cli-tail', { presence: true, state: { mood: 'ok' } }).joined;
    const join = JSON.parse(await tail.line('stdout', (l) => l.includes('"join"'))) as unknown;
    expect(join).toEqual({ type: 'join', channel: 'cli-tail', address: frank.address, identity: 'frank', device: 'web', state: { mood: 'ok' } });
    frank.close();
    const leave = JSON.parse(await tail.line('stdout', (l) => l.includes('"leave"'))) as Record<string, unknown>;
    expect(leave).toMatchObject({ type: 'leave', channel: 'cli-tail', address: frank.address });

    tail.child.kill('SIGINT');
    expect(await tail.exited).toBe(0);
  });

  it('prints presence and client messages as text lines', async () => {
    const tail = new RunningCli(['tail', '--channel', 'cli-text', '--presence'], env);
    running.push(tail);
    await tail.line('stderr', (l) => l.startsWith('listening to channel cli-text'));
    const hana = client(stack, 'hana', 'web');
    const room = hana.join('cli-text', { presence: true, state: { mood: 'ok' } });
    await room.joined;
    expect(await tail.line('stdout', (l) => l.includes(' + '))).toBe(`[cli-text] + ${hana.address!} {"mood":"ok"}`);
    await room.publish({ text: 'yo\u009b2J\u007f' }, { ack: true });
    // C1 and DEL could drive a terminal; JSON leaves them raw, so tail shows them escaped.
    expect(await tail.line('stdout', (l) => l.includes('yo'))).toBe(`[cli-text] ${hana.address!}: {"text":"yo\\u009b2J\\u007f"}`);
    room.me.updateState({ mood: 'busy' });
    expect(await tail.line('stdout', (l) => l.includes(' ~ '))).toBe(`[cli-text] ~ ${hana.address!} {"mood":"busy"}`);
    await room.leave();
    expect(await tail.line('stdout', (l) => l.includes(' - '))).toBe(`[cli-text] - ${hana.address!}`);
  });

  it('--user with --token-file prints direct messages as text lines', async () => {
    const token = (await runCli(['token', '--identity', 'grace', '--device', 'cli'], { env })).stdout.trim();
    const file = join(dir, 'grace.jwt');
    writeFileSync(file, token);
    const tail = new RunningCli(['tail', '--user', '--token-file', file], { SIGNAL_GATEWAY_URL: stack.gatewayUrl(0) });
    running.push(tail);
    await tail.line('stderr', (l) => l.startsWith('listening to direct messages as grace/cli/'));
    expect((await runCli(['emit', '--user', 'grace', '--event', 'ring', '--message', '{"n":1}'], { env })).code).toBe(0);
    expect(await tail.line('stdout', (l) => l.startsWith('(direct)'))).toBe('(direct) (backend): {"event":"ring","message":{"n":1}}');
  });

  it('fails over to the next --gateway when its gateway dies, rejoins, and keeps printing', async () => {
    const doomed = await startService({ entry: GATEWAY_ENTRY, name: 'gateway-doomed', env: serviceEnv(stack) });
    const tail = new RunningCli(['tail', '--channel', 'cli-failover', '--gateway', `ws://127.0.0.1:${doomed.ready.port},${stack.gatewayUrl(0)}`], env);
    running.push(tail);
    await tail.line('stderr', (l) => l.startsWith(`listening to channel cli-failover as signal-cli/tail/${doomed.ready.node}-`));
    killed.add(doomed.ready.node);
    await doomed.stop('SIGKILL');
    await tail.line('stderr', (l) => l === 'reconnected');
    expect((await runCli(['emit', '--channel', 'cli-failover', '--message', '{"after":"failover"}'], { env })).code).toBe(0);
    expect(await tail.line('stdout', (l) => l.includes('failover'))).toBe('[cli-failover] (backend): {"event":"signal","message":{"after":"failover"}}');
    expect(tail.stderrLines.some((l) => l.startsWith('connection lost ('))).toBe(true);
  });

  it('a join the gateway refuses exits 1 with its code', async () => {
    const token = (await runCli(['token', '--identity', 'ivan', '--capability', '{"cli-locked":["subscribe"]}'], { env })).stdout.trim();
    const file = join(dir, 'ivan.jwt');
    writeFileSync(file, token);
    const refused = await runCli(['tail', '--channel', 'cli-locked', '--presence', '--token-file', file], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^signal: cannot join cli-locked: forbidden.*\n$/);
  });

  it('a token the gateway refuses exits 1; neither --channel nor --user exits 2', async () => {
    const file = join(dir, 'bad.jwt');
    writeFileSync(file, 'not-a-token');
    const refused = await runCli(['tail', '--user', '--token-file', file], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/cannot connect to the gateway at .*unauthorized/);
    const usage = await runCli(['tail'], { env });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--channel <channel>.*--user/);
  });
});

describe('signal nodes', () => {
  it('lists the gateways beating, with --json shape; a gateway stopped cleanly is gone', async () => {
    const natsEnv = { NATS_URL: stack.nats.url };
    const extra = await startService({ entry: GATEWAY_ENTRY, name: 'gateway-extra', env: { ...serviceEnv(stack), NODE_ID: 'cliextra' } });
    // One client on the extra gateway: its record counts it from its next beat on.
    const onExtra = await RpcClient.connect(`ws://127.0.0.1:${String(extra.ready.port)}/v1/connect?key=${keysOf(stack, 'alpha').publishableKey}`);
    let nodes: Array<Record<string, unknown>> = [];
    const list = async () => {
      const json = await runCli(['nodes', '--json'], { env: natsEnv });
      expect(json.code).toBe(0);
      return (JSON.parse(json.stdout) as Array<Record<string, unknown>>).filter((n) => !killed.has(n.node));
    };
    // Each run of the CLI takes a few hundred ms, the heartbeat comes every second.
    for (let tries = 0; tries < 50 && !nodes.some((n) => n.node === 'cliextra' && n.connections === 1); tries++) nodes = await list();
    expect(nodes.find((n) => n.node === 'cliextra')).toMatchObject({ connections: 1 });
    expect(nodes.map((n) => n.node).sort()).toEqual(['cliextra', stack.gateways[0]!.ready.node].sort());
    for (const n of nodes) {
      expect(Object.keys(n).sort()).toEqual(['ageMs', 'alive', 'beatAt', 'connections', 'instance', 'node', 'startedAt']);
      expect(n).toMatchObject({ alive: true, instance: expect.any(String), beatAt: expect.any(Number), startedAt: expect.any(Number) });
      expect(n.startedAt as number).toBeLessThanOrEqual(n.beatAt as number);
      expect(n.ageMs as number).toBeLessThan(5000);
    }
    const text = await runCli(['nodes'], { env: natsEnv });
    expect(text.stdout.split('\n')[0]).toMatch(/^NODE\s+INSTANCE\s+SINCE\s+CONNECTIONS\s+LAST BEAT\s+AGE\s+STATUS$/);
    expect(text.stdout).toMatch(/^cliextra\s+\S+\s+\d{4}-\d\d-\d\dT\S+\s+1\s+\d{4}-\d\d-\d\dT\S+\s+\d+\.\ds\s+alive$/m);
    onExtra.close();

    await extra.stop();
    const after = (JSON.parse((await runCli(['nodes', '--json', '--all'], { env: natsEnv })).stdout) as Array<Record<string, unknown>>).filter(
      (n) => !killed.has(n.node),
    );
    expect(after.map((n) => n.node)).toEqual([stack.gateways[0]!.ready.node]);
  });

  it('an unreachable NATS exits 1, a wrong bucket 3, contradictory NATS variables 2, each naming what to set', async () => {
    const down = `nats://127.0.0.1:${await freePort()}`;
    const unreachable = await runCli(['nodes'], { env: { NATS_URL: down } });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain(`cannot connect to NATS at ${down}`);
    const bucket = await runCli(['nodes'], { env: { NATS_URL: stack.nats.url, PRESENCE_BUCKET: 'elsewhere' } });
    expect(bucket.code).toBe(3);
    expect(bucket.stderr).toMatch(/'elsewhere_nodes'.*PRESENCE_BUCKET/);
    const half = await runCli(['nodes'], { env: { NATS_URL: stack.nats.url, NATS_USER: 'ops' } });
    expect(half.code).toBe(2);
    expect(half.stderr).toMatch(/NATS_PASSWORD.*NATS_USER and NATS_PASSWORD go together/);
  });
});
