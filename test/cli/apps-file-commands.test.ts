import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { generateApp, loadAppsFile, sha256Hex } from '@signal/core';
import { startNats, startService, type NatsServer } from '@signal/harness';
import { EMIT_API_ENTRY, GATEWAY_ENTRY } from '../support/stack.js';
import { runCli } from './support.js';

/** init and keys, run as `node packages/cli/dist/main.js …`, checked against the file and a real emit-api reading it. */
let nats: NatsServer;
const dir = mkdtempSync(join(tmpdir(), 'signal-cli-apps-'));
let n = 0;
const freshPath = () => join(dir, `apps-${++n}.json`);

beforeAll(async () => {
  nats = await startNats();
});
afterAll(async () => {
  await nats?.stop();
});

interface InitJson {
  appsFile: string;
  app: string;
  environments: Record<string, { publishableKey: string; secretKey: string }>;
}

async function init(path: string, ...args: string[]): Promise<InitJson> {
  const { code, stdout, stderr } = await runCli(['init', '--apps-file', path, '--json', ...args]);
  expect(stderr).toBe('');
  expect(code).toBe(0);
  return JSON.parse(stdout) as InitJson;
}

/** Mints a token through a real emit-api started on the file: the status says whether the key is accepted. */
async function mintStatus(appsFile: string, secretKey: string): Promise<number> {
  const emitApi = await startService({ entry: EMIT_API_ENTRY, name: 'emit-api', env: { NATS_URL: nats.url, APPS_FILE: appsFile, PORT: '0', ADMIN_PORT: '0' } });
  try {
    const res = await fetch(`http://127.0.0.1:${emitApi.ready.port}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ identity: 'alice' }),
    });
    return res.status;
  } finally {
    await emitApi.stop();
  }
}

describe('signal init', () => {
  it('writes a valid apps file, mode 0600, with secret keys only as SHA-256; the printed key works with emit-api', async () => {
    const path = freshPath();
    const out = await init(path, '--app', 'chat');
    expect(out.app).toBe('chat');
    expect(Object.keys(out.environments).sort()).toEqual(['live', 'test']);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const file = loadAppsFile(path);
    const test = file.apps[0]!.environments.test!;
    expect(test.publishableKeys).toEqual([out.environments.test!.publishableKey]);
    expect(test.secretKeys).toEqual([{ sha256: sha256Hex(out.environments.test!.secretKey), permissions: [] }]);
    expect(readFileSync(path, 'utf8')).not.toContain(out.environments.test!.secretKey);
    expect(await mintStatus(path, out.environments.test!.secretKey)).toBe(201);
  });

  it('--clear-secret keeps the key in clear, --env makes one environment, --broadcast grants broadcast; text output shows the keys once', async () => {
    const path = freshPath();
    const { code, stdout } = await runCli(['init', '--apps-file', path, '--env', 'live', '--clear-secret', '--broadcast']);
    expect(code).toBe(0);
    const env = loadAppsFile(path).apps[0]!.environments;
    expect(env.test).toBeUndefined();
    const secret = env.live!.secretKeys[0]!;
    expect(secret.permissions).toEqual(['broadcast']);
    expect(stdout).toContain(`live  secret key       ${secret.key!}`);
    expect(stdout).toContain(`live  publishable key  ${env.live!.publishableKeys[0]!}`);
    expect(loadAppsFile(path).apps[0]!.id).toBe('my-app');
  });

  it('refuses to overwrite an existing file (exit 4) unless --force', async () => {
    const path = freshPath();
    const first = await init(path);
    const before = readFileSync(path, 'utf8');
    const again = await runCli(['init', '--apps-file', path]);
    expect(again.code).toBe(4);
    expect(again.stderr).toMatch(/exists; pass --force/);
    expect(readFileSync(path, 'utf8')).toBe(before);
    const forced = await init(path, '--force');
    expect(forced.environments.test!.secretKey).not.toBe(first.environments.test!.secretKey);
  });

  it('a bad app id, a bad --env and an unknown flag are usage errors (2); a missing directory is exit 3', async () => {
    for (const args of [['--app', 'Not OK'], ['--env', 'prod'], ['--colour']]) {
      const path = freshPath();
      const { code, stderr } = await runCli(['init', '--apps-file', path, ...args]);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr).toMatch(/must be 1-63 of a-z|Allowed choices are test, live|unknown option '--colour'/);
      expect(() => statSync(path)).toThrow();
    }
    const missing = await runCli(['init', '--apps-file', join(dir, 'nope', 'apps.json')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/directory .*nope does not exist/);
  });
});

describe('signal keys', () => {
  it('lists keys, secret keys only by id, in text and --json', async () => {
    const path = freshPath();
    const out = await init(path, '--app', 'shop', '--clear-secret');
    const json = await runCli(['keys', 'list', '--apps-file', path, '--json']);
    expect(json.code).toBe(0);
    const views = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    expect(views).toEqual([
      { app: 'shop', env: 'test', kind: 'publishable', id: out.environments.test!.publishableKey },
      { app: 'shop', env: 'test', kind: 'secret', id: sha256Hex(out.environments.test!.secretKey).slice(0, 12), stored: 'clear', permissions: [] },
      { app: 'shop', env: 'test', kind: 'token-secret', id: '(tokenSecret)', stored: 'clear', permissions: ['sign', 'verify'] },
      { app: 'shop', env: 'live', kind: 'publishable', id: out.environments.live!.publishableKey },
      { app: 'shop', env: 'live', kind: 'secret', id: sha256Hex(out.environments.live!.secretKey).slice(0, 12), stored: 'clear', permissions: [] },
      { app: 'shop', env: 'live', kind: 'token-secret', id: '(tokenSecret)', stored: 'clear', permissions: ['sign', 'verify'] },
    ]);
    const secrets = loadAppsFile(path).apps[0]!.environments;
    expect(json.stdout).not.toContain(secrets.test!.tokenSecret!);
    const text = await runCli(['keys', 'list', '--apps-file', path, '--env', 'live', '--kind', 'secret']);
    expect(text.stdout.split('\n')[0]).toMatch(/^APP\s+ENV\s+KIND\s+KEY\s+STORED\s+NAME\s+PERMISSIONS$/);
    expect(text.stdout).toContain(sha256Hex(out.environments.live!.secretKey).slice(0, 12));
    for (const output of [json.stdout, text.stdout]) {
      expect(output).not.toContain(out.environments.test!.secretKey);
      expect(output).not.toContain(out.environments.live!.secretKey);
    }
  });

  it('adds a secret key (printed once, stored hashed) that emit-api accepts, then removes the old one, which it refuses', async () => {
    const path = freshPath();
    const out = await init(path);
    const added = await runCli(['keys', 'add', '--apps-file', path, '--env', 'test', '--kind', 'secret', '--name', 'backend', '--broadcast', '--json']);
    expect(added.code).toBe(0);
    const key = JSON.parse(added.stdout) as { app: string; env: string; kind: string; key: string; id: string };
    expect(key).toMatchObject({ app: 'my-app', env: 'test', kind: 'secret', id: sha256Hex(key.key).slice(0, 12) });
    expect(key.key).toMatch(/^seck_test_/);
    expect(loadAppsFile(path).apps[0]!.environments.test!.secretKeys[1]).toEqual({ sha256: sha256Hex(key.key), name: 'backend', permissions: ['broadcast'] });
    expect(statSync(path).mode & 0o777).toBe(0o600);

    const old = sha256Hex(out.environments.test!.secretKey).slice(0, 8);
    const removed = await runCli(['keys', 'remove', old, '--apps-file', path, '--env', 'test']);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toMatch(/^removed test secret key [a-f0-9]{12} from app 'my-app'/);
    expect(await mintStatus(path, key.key)).toBe(201);
    expect(await mintStatus(path, out.environments.test!.secretKey)).toBe(401);
  });

  it('adds and removes publishable keys; by name for secret keys', async () => {
    const path = freshPath();
    await init(path, '--env', 'test');
    const added = await runCli(['keys', 'add', '--apps-file', path, '--env', 'test', '--kind', 'publishable']);
    const pubk = added.stdout.trim();
    expect(pubk).toMatch(/^pubk_test_[A-Za-z0-9]{32}$/);
    expect(loadAppsFile(path).apps[0]!.environments.test!.publishableKeys).toContain(pubk);
    expect((await runCli(['keys', 'remove', pubk, '--apps-file', path, '--env', 'test'])).code).toBe(0);
    expect(loadAppsFile(path).apps[0]!.environments.test!.publishableKeys).not.toContain(pubk);

    await runCli(['keys', 'add', '--apps-file', path, '--env', 'test', '--kind', 'secret', '--name', 'temp']);
    expect((await runCli(['keys', 'remove', 'temp', '--apps-file', path, '--env', 'test', '--json'])).stdout).toMatch(/"kind":"secret"/);
    expect(loadAppsFile(path).apps[0]!.environments.test!.secretKeys.map((k) => k.name)).toEqual([undefined]);
  });

  it('refuses: the last key (4), an unknown key, app or environment or a missing file (3), a bad option (2); the file is unchanged', async () => {
    const path = freshPath();
    const out = await init(path, '--env', 'test');
    const before = readFileSync(path, 'utf8');
    const cases: Array<[string[], number, RegExp]> = [
      [['keys', 'remove', out.environments.test!.publishableKey, '--env', 'test'], 4, /last test publishable key .*add another/],
      [['keys', 'remove', out.environments.test!.secretKey, '--env', 'test'], 4, /last test secret key/],
      [['keys', 'remove', 'pubk_test_AAAAAAAAAAAAAAAAAAAA', '--env', 'test'], 3, /no test publishable key/],
      [['keys', 'add', '--env', 'live', '--kind', 'secret'], 3, /has no live environment/],
      [['keys', 'add', '--env', 'test', '--kind', 'secret', '--app', 'other'], 3, /has no app 'other' \(it has my-app\)/],
      [['keys', 'add', '--env', 'test', '--kind', 'public'], 2, /Allowed choices are publishable, secret/],
      [['keys', 'add', '--kind', 'secret'], 2, /required option '--env <env>'/],
      [['keys', 'add', '--env', 'test', '--kind', 'publishable', '--broadcast'], 2, /are for secret keys/],
    ];
    for (const [args, exit, error] of cases) {
      const { code, stderr } = await runCli([...args, '--apps-file', path]);
      expect(code, args.join(' ')).toBe(exit);
      expect(stderr).toMatch(error);
    }
    expect(readFileSync(path, 'utf8')).toBe(before);
    const missing = await runCli(['keys', 'list', '--apps-file', join(dir, 'missing.json')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/no such file; create one with 'signal init/);
  });

  it('refuses rotations and token-secret changes it cannot make: exit 2, 3 or 4, the file unchanged', async () => {
    const path = freshPath();
    await init(path, '--env', 'test');
    const before = readFileSync(path, 'utf8');
    const cases: Array<[string[], number, RegExp]> = [
      [['keys', 'rotate', '--env', 'test'], 2, /name the key to replace, or pass --kind token-secret/],
      [['keys', 'rotate', 'pubk_test_AAAAAAAAAAAAAAAAAAAA', '--env', 'test'], 3, /no test publishable key/],
      [['keys', 'rotate', 'x', '--env', 'test', '--kind', 'token-secret'], 2, /leave out the key argument/],
      [['keys', 'rotate', '--env', 'test', '--kind', 'token-secret', '--kid', 'bad kid!'], 2, /kid must be 1-64 of/],
      [['keys', 'rotate', '--env', 'test', '--kind', 'token-secret', '--finish'], 3, /has only one token secret: no rotation to finish/],
      [['keys', 'remove', '(tokenSecret)', '--env', 'test', '--kind', 'token-secret'], 4, /last token secret .*add one/],
      [['keys', 'remove', 'nope', '--env', 'test', '--kind', 'token-secret'], 3, /no token secret 'nope'/],
      [['keys', 'add', '--env', 'test', '--kind', 'secret', '--kid', 'k1'], 2, /--kid and --secret-file are for token secrets/],
      [['keys', 'add', '--env', 'test', '--kind', 'token-secret', '--secret-file', '/nonexistent/secret'], 3, /--secret-file \/nonexistent\/secret: no such file/],
    ];
    for (const [args, exit, error] of cases) {
      const { code, stderr } = await runCli([...args, '--apps-file', path]);
      expect(code, args.join(' ')).toBe(exit);
      expect(stderr).toMatch(error);
    }
    expect(readFileSync(path, 'utf8')).toBe(before);
  });

  it('an id prefix that matches two secret keys is a usage error (2) asking for more digits', async () => {
    const path = freshPath();
    const out = await init(path, '--env', 'test');
    const file = loadAppsFile(path);
    const twins = ['aaaaaaaa1', 'aaaaaaaa2'].map((start) => ({ sha256: start.padEnd(64, '0'), permissions: [] as 'broadcast'[] }));
    file.apps[0]!.environments.test!.secretKeys.push(...twins);
    writeFileSync(path, JSON.stringify(file));
    const ambiguous = await runCli(['keys', 'remove', 'aaaaaaaa', '--apps-file', path, '--env', 'test']);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toMatch(/'aaaaaaaa' matches 2 secret keys; give more digits/);
    expect((await runCli(['keys', 'remove', 'aaaaaaaa2', '--apps-file', path, '--env', 'test'])).code).toBe(0);
    expect(loadAppsFile(path).apps[0]!.environments.test!.secretKeys.map((k) => k.sha256)).toEqual([sha256Hex(out.environments.test!.secretKey), twins[0]!.sha256]);
  });

  it('changes only the key it adds or removes: settings, names and omitted defaults stay as written', async () => {
    const path = freshPath();
    const app = generateApp('tuned') as unknown as { id: string; name?: string; environments: Record<string, Record<string, unknown>> };
    app.name = 'Tuned app';
    const test = app.environments.test!;
    test.secretKeys = [{ sha256: 'b'.repeat(64) }];
    test.stelace = { clientMessages: true };
    test.authorization = { anonymous: ['public-*'], namespaces: { 'lobby-*': { presence: false, maxParticipants: 50 } } };
    const original = { apps: [app, generateApp('other')] };
    writeFileSync(path, JSON.stringify(original));

    const added = await runCli(['keys', 'add', '--apps-file', path, '--app', 'tuned', '--env', 'test', '--kind', 'publishable']);
    expect(added.code).toBe(0);
    const after = JSON.parse(readFileSync(path, 'utf8')) as typeof original;
    const expected = structuredClone(original);
    (expected.apps[0]!.environments.test!.publishableKeys as string[]).push(added.stdout.trim());
    expect(after).toEqual(expected);

    expect((await runCli(['keys', 'remove', added.stdout.trim(), '--apps-file', path, '--app', 'tuned', '--env', 'test'])).code).toBe(0);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(original);
  });

  it('an invalid apps file exits 1 with the schema\'s message, and is not rewritten', async () => {
    const path = freshPath();
    writeFileSync(path, JSON.stringify({ apps: [{ id: 'x', environments: { test: { publishableKeys: [], secretKeys: [], tokenSecret: 'short' } } }] }));
    const { code, stderr } = await runCli(['keys', 'add', '--apps-file', path, '--env', 'test', '--kind', 'secret']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/apps\.0\.environments\.test\.publishableKeys/);
  });
});

/** 101 when the gateway accepts the WebSocket, else the HTTP status it refused it with. */
function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once('open', () => {
      socket.close();
      resolve(101);
    });
    socket.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      socket.terminate();
    });
    socket.once('error', reject);
  });
}

describe('signal keys for token secrets', () => {
  /** The `kid` in a JWT's header (undefined: none). */
  const kidOf = (token: string) => (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid?: string }).kid;

  /** A token minted by a real emit-api on the file, and whether a real gateway on the same file accepts `tokens` (HTTP status of the upgrade). */
  async function mintAndVerify(appsFile: string, secretKey: string, tokens: string[]): Promise<{ minted: string; accepted: number[] }> {
    const env = { NATS_URL: nats.url, APPS_FILE: appsFile, PORT: '0', ADMIN_PORT: '0' };
    const emitApi = await startService({ entry: EMIT_API_ENTRY, name: 'emit-api', env });
    const gateway = await startService({ entry: GATEWAY_ENTRY, name: 'gateway', env });
    try {
      const res = await fetch(`http://127.0.0.1:${emitApi.ready.port}/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ identity: 'alice' }),
      });
      expect(res.status).toBe(201);
      const { token } = (await res.json()) as { token: string };
      const accepted = await Promise.all(tokens.map((t) => upgradeStatus(`ws://127.0.0.1:${gateway.ready.port}/v1/connect?token=${t}`)));
      return { minted: token, accepted };
    } finally {
      await Promise.all([emitApi.stop(), gateway.stop()]);
    }
  }

  it('rotates: the new kid signs, the old secret verifies until --finish removes it; secrets are never printed', async () => {
    const path = freshPath();
    const out = await init(path, '--env', 'test', '--clear-secret');
    const secretKey = out.environments.test!.secretKey;
    const before = (await mintAndVerify(path, secretKey, [])).minted;
    expect(kidOf(before)).toBeUndefined();

    const rotated = await runCli(['keys', 'rotate', '--apps-file', path, '--env', 'test', '--kind', 'token-secret', '--kid', '2026-12', '--json']);
    expect(rotated.code).toBe(0);
    expect(JSON.parse(rotated.stdout)).toEqual({ app: 'my-app', env: 'test', kind: 'token-secret', id: '2026-12', previous: ['(tokenSecret)'] });
    const file = loadAppsFile(path).apps[0]!.environments.test!;
    expect(file.tokenSecret).toBeDefined();
    expect(file.tokenSecrets).toEqual([{ kid: '2026-12', secret: expect.stringMatching(/^[A-Za-z0-9]{48}$/) as string }]);
    expect(rotated.stdout + rotated.stderr).not.toContain(file.tokenSecrets![0]!.secret);

    const during = await mintAndVerify(path, secretKey, [before]);
    expect(kidOf(during.minted)).toBe('2026-12');
    expect(during.accepted).toEqual([101]);

    const list = await runCli(['keys', 'list', '--apps-file', path, '--kind', 'token-secret']);
    expect(list.stdout).toMatch(/token-secret\s+\(tokenSecret\)\s+clear\s+verify\n/);
    expect(list.stdout).toMatch(/token-secret\s+2026-12\s+clear\s+sign,verify\n/);

    const finished = await runCli(['keys', 'rotate', '--apps-file', path, '--env', 'test', '--kind', 'token-secret', '--finish', '--json']);
    expect(JSON.parse(finished.stdout)).toEqual({ app: 'my-app', env: 'test', kind: 'token-secret', id: '2026-12', removed: ['(tokenSecret)'] });
    expect(loadAppsFile(path).apps[0]!.environments.test!.tokenSecret).toBeUndefined();
    const after = await mintAndVerify(path, secretKey, [before, during.minted]);
    expect(after.accepted).toEqual([401, 101]);
  });

  it('adds a given secret under a kid, removes one by kid, and refuses a duplicate kid or a short secret', async () => {
    const path = freshPath();
    await init(path, '--env', 'test');
    const secretFile = join(dir, 'token-secret.txt');
    writeFileSync(secretFile, `${'s'.repeat(40)}\n`);
    const added = await runCli(['keys', 'add', '--apps-file', path, '--env', 'test', '--kind', 'token-secret', '--kid', 'k1', '--secret-file', secretFile]);
    expect(added).toMatchObject({ code: 0, stdout: 'k1\n' });
    expect(loadAppsFile(path).apps[0]!.environments.test!.tokenSecrets).toEqual([{ kid: 'k1', secret: 's'.repeat(40) }]);
    const generated = await runCli(['keys', 'add', '--apps-file', path, '--env', 'test', '--kind', 'token-secret', '--json']);
    const kid = (JSON.parse(generated.stdout) as { id: string }).id;
    expect(kid).toMatch(/^\d{4}-\d{2}-\d{2}-[a-f0-9]{6}$/);

    const duplicate = await runCli(['keys', 'add', '--apps-file', path, '--env', 'test', '--kind', 'token-secret', '--kid', 'k1']);
    expect(duplicate.code).toBe(2);
    expect(duplicate.stderr).toMatch(/kid 'k1' is already a token secret/);
    writeFileSync(secretFile, 'short');
    const short = await runCli(['keys', 'add', '--apps-file', path, '--env', 'test', '--kind', 'token-secret', '--secret-file', secretFile]);
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/a token secret is 32 to 1024 characters \(it has 5\)/);

    const removed = await runCli(['keys', 'remove', 'k1', '--apps-file', path, '--env', 'test', '--kind', 'token-secret', '--json']);
    expect(JSON.parse(removed.stdout)).toEqual({ app: 'my-app', env: 'test', kind: 'token-secret', id: 'k1' });
    expect(loadAppsFile(path).apps[0]!.environments.test!.tokenSecrets!.map((s) => s.kid)).toEqual([kid]);
  });

  it('rotates a secret key (made with --nodes): the replacement keeps name and permissions, and both work until the old one is removed', async () => {
    const path = freshPath();
    await init(path, '--env', 'test');
    const added = await runCli(['keys', 'add', '--apps-file', path, '--env', 'test', '--kind', 'secret', '--name', 'ops', '--broadcast', '--nodes', '--json']);
    const old = JSON.parse(added.stdout) as { key: string; id: string };
    expect(loadAppsFile(path).apps[0]!.environments.test!.secretKeys.at(-1)).toEqual({ sha256: sha256Hex(old.key), name: 'ops', permissions: ['broadcast', 'nodes'] });
    const rotated = await runCli(['keys', 'rotate', old.id, '--apps-file', path, '--env', 'test', '--json']);
    expect(rotated.code).toBe(0);
    const answer = JSON.parse(rotated.stdout) as { key: string; id: string; replaces: string; kind: string };
    expect(answer).toMatchObject({ kind: 'secret', replaces: old.id, id: sha256Hex(answer.key).slice(0, 12) });
    expect(loadAppsFile(path).apps[0]!.environments.test!.secretKeys.at(-1)).toEqual({ sha256: sha256Hex(answer.key), name: 'ops', permissions: ['broadcast', 'nodes'] });
    expect(await mintStatus(path, answer.key)).toBe(201);
    expect(await mintStatus(path, old.key)).toBe(201);
  });
});
