import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, errors, headers, type NatsConnection } from '@nats-io/transport-node';
import { webhookEndpointId } from '@signal/core';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emitTo, payloads, positionOf, withHistory } from '../history/support.js';
import { NATS_CONF } from '../support/nats-conf.js';
import { getOccupancy } from '../support/occupancy.js';
import { getParticipants } from '../support/presence.js';
import { passes } from '../support/poll.js';
import { EMIT_API_ENTRY, connectNative, emit, keysOf, serviceEnv, startStack, type Stack } from '../support/stack.js';
import { startNats, startService, writeTempFile, type NatsServer, type ServiceProcess } from '@signal/harness';
import { Receiver, SECRET, WEBHOOKS_ENTRY } from '../webhooks/support.js';

/*
 * The shipped NATS authorization (deploy/compose/nats.conf), wired the way docker-compose.yml
 * wires it: the NATS servers' password variables and the services' NATS_USER/NATS_PASSWORD
 * come from the compose file itself, with generated passwords in place of .env.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));
/* eslint-disable @typescript-eslint/no-explicit-any -- parsed YAML */
const compose: any = parse(readFileSync(`${root}docker-compose.yml`, 'utf8'), { merge: true });

/** Compose's `${NAME:?message}` interpolation, from `vars`. */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::\?[^}]*)?\}/g, (_, name: string) => {
    const found = vars[name];
    if (found === undefined) throw new Error(`docker-compose.yml refers to ${name}, which this test does not generate`);
    return found;
  });
}

const dotEnv = {
  SIGNAL_NATS_GATEWAY_PASSWORD: `s${randomBytes(24).toString('hex')}`,
  SIGNAL_NATS_EMIT_API_PASSWORD: `s${randomBytes(24).toString('hex')}`,
  SIGNAL_NATS_WEBHOOKS_PASSWORD: `s${randomBytes(24).toString('hex')}`,
  SIGNAL_NATS_ROUTE_PASSWORD: `s${randomBytes(24).toString('hex')}`,
};
const resolveEnv = (env: Record<string, string>, names: string[]) =>
  Object.fromEntries(names.map((name) => [name, interpolate(String(env[name]), dotEnv)]));
const natsEnv = resolveEnv(compose.services['nats-1'].environment, Object.keys(compose.services['nats-1'].environment));
const gatewayLogin = resolveEnv(compose.services['gateway-1'].environment, ['NATS_USER', 'NATS_PASSWORD']);
const emitLogin = resolveEnv(compose.services['emit-api'].environment, ['NATS_USER', 'NATS_PASSWORD']);
const webhooksLogin = resolveEnv(compose.services['webhooks-1'].environment, ['NATS_USER', 'NATS_PASSWORD']);

const SHARDS = { PRESENCE_SHARDS: '3' };
let stack: Stack;
let webhooks: ServiceProcess;
let receiver: Receiver;
const raw: NatsConnection[] = [];

beforeAll(async () => {
  receiver = await Receiver.start();
  stack = await startStack({
    gateways: 2,
    nats: { configFile: NATS_CONF, env: natsEnv },
    // Fast heartbeats and janitor: sweeping and purging run under these permissions too.
    // Three presence buckets, the most the shipped permissions allow (docs/presence.md#sharding):
    // every shard's reads, writes, sweeps, purges and webhook logs run under them too.
    gatewayEnv: { ...gatewayLogin, ...SHARDS, PRESENCE_HEARTBEAT_MS: '200', PRESENCE_NODE_TIMEOUT_MS: '1000', PRESENCE_JANITOR_MS: '1000' },
    emitEnv: { ...emitLogin, ...SHARDS },
    // `hist-*` channels of alpha/test keep history: its stream and reads run under these permissions too.
    // Alpha's live environment keeps direct messages: stored and recovered under these permissions too.
    configureApps: (apps) => {
      withHistory(10)(apps);
      (apps.find((a) => a.id === 'alpha')!.environments.live as Record<string, unknown>).history = { directMessages: true };
      apps.find((a) => a.id === 'alpha')!.environments.test!.secretKeys[0]!.permissions = ['broadcast', 'nodes'];
      apps[0]!.environments.test!.webhooks = [{ url: receiver.url, secrets: [SECRET], events: ['user_online', 'member_added', 'member_removed', 'client_message'] }];
      // `chat-*` channels send client messages to webhooks: the gateways store them under their login.
      (apps[0]!.environments.test!.authorization!.namespaces as unknown as Record<string, unknown>)['chat-*'] = { webhooks: { clientMessages: true } };
    },
  });
  webhooks = await startService({ entry: WEBHOOKS_ENTRY, name: 'webhooks', env: { ...serviceEnv(stack), ...webhooksLogin, ...SHARDS, WEBHOOK_STORAGE: 'memory' } });
});
afterAll(async () => {
  await webhooks?.stop();
  await receiver?.stop();
  await Promise.all(raw.map((nc) => nc.close()));
  await stack?.stop();
});

async function login(user: Record<string, string>): Promise<NatsConnection> {
  const nc = await connect({ servers: stack.nats.url, user: user.NATS_USER, pass: user.NATS_PASSWORD });
  raw.push(nc);
  return nc;
}

/** The permission violation the server reports for what `act` does, from the connection's status stream. */
async function violation(nc: NatsConnection, act: () => void | Promise<unknown>): Promise<InstanceType<typeof errors.PermissionViolationError>> {
  const seen = (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'error' && status.error instanceof errors.PermissionViolationError) return status.error;
    }
    throw new Error('connection closed without a permission violation');
  })();
  await Promise.resolve(act()).catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no permission violation within 5 s')), 5000)));
  try {
    return await Promise.race([seen, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('both services on NATS with the shipped authorization', () => {
  it('channel history: emits and client messages are stored, a rejoin on the other gateway recovers, GET history reads', async () => {
    const ann = await connectNative(stack, { identity: 'ann', device: 'web', gateway: 0 });
    const ben = await connectNative(stack, { identity: 'ben', device: 'web', gateway: 1 });
    await ann.call('signal.join', { id: 'hist-auth' });
    await ben.call('signal.join', { id: 'hist-auth' });
    await emitTo(stack, 'hist-auth', 'stored');
    const since = positionOf(await ann.next((f) => f.method === 'signal.publish'));
    ann.close();
    await ann.closed;
    await ben.call('signal.publish', { id: 'hist-auth', text: 'missed' });
    const back = await connectNative(stack, { identity: 'ann', device: 'web', gateway: 1 });
    expect(await back.call('signal.join', { id: 'hist-auth', since })).toMatchObject({ recovered: true });
    expect(payloads(back, 'hist-auth')).toEqual(['missed']);
    const res = await fetch(`${stack.emitUrl}/v1/channels/hist-auth/history`, { headers: { authorization: `Bearer ${keysOf(stack, 'alpha').secretKey}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { messages: unknown[] }).messages).toHaveLength(2);
    back.close();
    ben.close();
  });

  it('direct-message history: emits and client sends to a user and a device are stored, a reconnect to the other gateway recovers them', async () => {
    const live = { identity: 'ann', device: 'web', env: 'live' as const };
    const ann = await connectNative(stack, { ...live, gateway: 0 });
    const ben = await connectNative(stack, { identity: 'ben', device: 'web', gateway: 1, env: 'live' });
    const secret = keysOf(stack, 'alpha', 'live').secretKey;
    expect((await emit(stack, '/v1/signals', secret, { to: { user: 'ann' }, event: 'dm', message: 'seen' })).status).toBe(202);
    const seen = positionOf(await ann.next((f) => f.method === 'signal.send'));
    ann.close();
    await ann.closed;
    expect((await emit(stack, '/v1/signals', secret, { to: { device: 'ann/web' }, event: 'dm', message: 'missed-1' })).body).toMatchObject({ history: [{ device: 'ann/web' }] });
    await ben.call('signal.send', { to: 'ann', text: 'missed-2' });
    const back = await connectNative(stack, { ...live, gateway: 1, query: `since=${seen.offset}:${encodeURIComponent(seen.epoch)}` });
    expect(back.received('signal.send').map((f) => f.params!.message ?? f.params!.text)).toEqual(['missed-1', 'missed-2']);
    back.close();
    ben.close();
  });

  it('webhooks: client messages are stored by a gateway, and the emit-api lists and replays dead letters', async () => {
    const cid = await connectNative(stack, { identity: 'cid', device: 'web', gateway: 0 });
    await cid.call('signal.join', { id: 'chat-auth' });
    await cid.call('signal.publish', { id: 'chat-auth', text: 'to the backend' });
    await passes(() => expect(receiver.unique().find((e) => e.type === 'client_message')).toMatchObject({ channel: 'chat-auth', message: { text: 'to the backend' } }));
    cid.close();
    // A dead letter as the dispatcher writes it (its login may), replayed by the emit-api under its own.
    const nc = await login(webhooksLogin);
    const h = headers();
    h.set('Signal-Webhook-Endpoint', webhookEndpointId(receiver.url));
    h.set('Signal-Webhook-Subject', 'signal_webhooks.alpha.test.0');
    const event = { id: 'replayed-under-auth', type: 'user_online', time: Date.now(), app: 'alpha', env: 'test', user: 'replayed' };
    const stored = (await nc.request(`signal_webhooks_dead.alpha.test.${webhookEndpointId(receiver.url)}`, JSON.stringify(event), { headers: h, timeout: 5000 })).json<{ seq: number }>();
    const secret = { authorization: `Bearer ${keysOf(stack, 'alpha').secretKey}` };
    const listed = (await (await fetch(`${stack.emitUrl}/v1/webhooks/dead-letters`, { headers: secret })).json()) as { deadLetters: Array<{ id: number }> };
    expect(listed.deadLetters.map((d) => d.id)).toEqual([stored.seq]);
    expect((await emit(stack, '/v1/webhooks/dead-letters/replay', keysOf(stack, 'alpha').secretKey, { all: true })).body).toEqual({ replayed: [stored.seq], notFound: [], endpointGone: [], more: false });
    await passes(() => expect(receiver.unique().some((e) => e.id === 'replayed-under-auth')).toBe(true));
  });

  it('a client joins with presence, gets a backend emit and a direct message; participants and sweeping work', async () => {
    const ann = await connectNative(stack, { identity: 'ann', device: 'web', gateway: 0 });
    const ben = await connectNative(stack, { identity: 'ben', device: 'phone', gateway: 1 });
    expect(await ann.call('signal.join', { id: 'room', presence: true, state: { s: 1 } })).toEqual({ id: 'room', participants: [] });
    expect(await ben.call('signal.join', { id: 'room', presence: true })).toMatchObject({ participants: [{ address: ann.address }] });
    expect((await ann.next((f) => f.method === 'signal.join')).params).toMatchObject({ from: ben.address, id: 'room' });

    const emitted = await emit(stack, '/v1/signals', keysOf(stack, 'alpha').secretKey, { to: { channel: 'room' }, event: 'e', message: { n: 1 } });
    expect(emitted.status).toBe(202);
    for (const client of [ann, ben]) expect((await client.next((f) => f.method === 'signal.publish')).params).toMatchObject({ event: 'e', message: { n: 1 } });
    const toUser = await emit(stack, '/v1/signals', keysOf(stack, 'alpha').secretKey, { to: { user: 'ben' }, event: 'dm', message: 'hi' });
    expect(toUser.status).toBe(202);
    expect((await ben.next((f) => f.method === 'signal.send' && f.params?.event === 'dm')).params).toEqual({ event: 'dm', message: 'hi' });

    // A confirmed direct message: a request from one gateway answered by the other.
    await ann.call('signal.send', { to: 'ben', event: 'hello', message: 1 });
    expect((await ben.next((f) => f.method === 'signal.send' && f.params?.event === 'hello')).params).toMatchObject({ from: ann.address });

    // Revocations (KV writes, a compare-and-set update, the gateways' watch) and disconnect commands.
    const carl = await connectNative(stack, { identity: 'carl', device: 'web', gateway: 1 });
    for (let i = 0; i < 2; i++) expect((await emit(stack, '/v1/revocations', keysOf(stack, 'alpha').secretKey, { user: 'carl' })).status).toBe(201);
    expect((await carl.closed).code).toBe(4003);
    const dora = await connectNative(stack, { identity: 'dora', device: 'web', gateway: 0 });
    expect((await emit(stack, '/v1/disconnect', keysOf(stack, 'alpha').secretKey, { user: 'dora' })).status).toBe(202);
    expect((await dora.closed).code).toBe(4004);

    const { status, body } = await getParticipants(stack, 'room');
    expect(status).toBe(200);
    expect(body.participants!.map((p) => p.address).sort()).toEqual([ann.address, ben.address].sort());
    // Occupancy: each gateway's key (puts), a follower's watch and direct gets, the emit-api's reads.
    // (ben's gateway wrote its key at ben's join and writes his presence within the next second.)
    expect(await ann.call('signal.join', { id: 'room', presence: true, occupancy: true })).toMatchObject({ occupancy: { connections: 2 } });
    await passes(async () => expect((await getOccupancy(stack, 'room')).body).toEqual({ channel: 'room', connections: 2, participants: 2 }));

    // The admin console's reads: the channel list (occupancy keys) and the node list (heartbeats).
    const admin = { authorization: `Bearer ${keysOf(stack, 'alpha').secretKey}` };
    await passes(async () =>
      expect(await (await fetch(`${stack.emitUrl}/v1/channels`, { headers: admin })).json()).toEqual({ channels: [{ channel: 'room', connections: 2, participants: 2, occupancy: 2 }], truncated: false }),
    );
    const nodes = (await (await fetch(`${stack.emitUrl}/v1/nodes`, { headers: admin })).json()) as { nodes: Array<{ node: string; alive: boolean }> };
    expect(nodes.nodes.map((n) => n.node).sort()).toEqual(stack.gateways.map((g) => g.ready.node).sort());

    // The webhooks dispatcher mirrors the buckets, stores and delivers events under its login.
    await passes(() => expect(receiver.unique().filter((e) => e.channel === 'room').map((e) => e.type)).toEqual(['member_added', 'member_added']));

    // A gateway that dies is swept by the other: heartbeat watch and KV deletes are permitted.
    await stack.gateways[1]!.kill();
    expect((await ann.next((f) => f.method === 'signal.leave', 15_000)).params).toMatchObject({ from: ben.address, id: 'room' });
    await passes(async () => {
      const after = await getParticipants(stack, 'room');
      expect(after.body.participants!.map((p) => p.address)).toEqual([ann.address]);
    });
    // Its occupancy key is swept too (listing a node's keys, compare-and-set deletes).
    expect((await ann.next((f) => f.method === 'signal.occupancy' && f.params?.connections === 1, 15_000)).params).toEqual({ id: 'room', connections: 1, participants: 1 });
    await passes(async () => expect((await getOccupancy(stack, 'room')).body).toEqual({ channel: 'room', connections: 1, participants: 1 }));
    await passes(() => expect(receiver.unique().some((e) => e.type === 'member_removed' && e.swept === true && e.member?.address === ben.address)).toBe(true));
    // The janitor purges the delete markers once they are older than PRESENCE_JANITOR_MS.
    // So are those of the online and occupancy buckets: ben's online key and occupancy key, swept.
    for (const bucket of ['presence', 'online', 'occupancy']) {
      await stack.gateways[0]!.waitForLine((l) => l.includes('"msg":"presence janitor"') && new RegExp(`"${bucket}":[1-9]`).test(l), 15_000);
    }
    ann.close();
    ben.close();
  });

  it('no service ran into a permission it lacks, and no log line carries a NATS password', () => {
    const lines = [...stack.gateways, stack.emitApi, webhooks].flatMap((s) => s.lines());
    expect(lines.filter((l) => /permission/i.test(l))).toEqual([]);
    for (const secret of Object.values(dotEnv)) expect(lines.filter((l) => l.includes(secret))).toEqual([]);
  });
});

describe('what each login may not do', () => {
  it('no credentials, or a wrong password: the server refuses the connection', async () => {
    await expect(connect({ servers: stack.nats.url, reconnect: false })).rejects.toBeInstanceOf(errors.AuthorizationError);
    await expect(connect({ servers: stack.nats.url, user: gatewayLogin.NATS_USER, pass: 'sWrong', reconnect: false })).rejects.toBeInstanceOf(errors.AuthorizationError);
  });

  it('the gateway login cannot publish outside its subjects, nor delete or purge the presence streams it does not own, nor write or delete the revocation list', async () => {
    const nc = await login(gatewayLogin);
    for (const subject of [
      'other.subject',
      'sig.alpha.test.all',
      '$JS.API.STREAM.DELETE.KV_signal_presence',
      '$JS.API.STREAM.PURGE.KV_signal_presence_nodes',
      '$JS.API.STREAM.CREATE.evil',
      '$JS.API.STREAM.LIST',
      '$KV.signal_revocations.alpha.test.user.x',
      '$JS.API.STREAM.PURGE.KV_signal_revocations',
      '$JS.API.STREAM.DELETE.KV_signal_revocations',
    ]) {
      const error = await violation(nc, () => nc.publish(subject, '{}'));
      expect(error).toMatchObject({ operation: 'publish', subject });
    }
    // The stream is still there: the emit-api reads presence through it.
    expect((await getParticipants(stack, 'room')).status).toBe(200);
  });

  it('the gateway login cannot subscribe to what it does not route', async () => {
    const nc = await login(gatewayLogin);
    const error = await violation(nc, () => void nc.subscribe('$KV.signal_presence.>'));
    expect(error).toMatchObject({ operation: 'subscription', subject: '$KV.signal_presence.>' });
  });

  it('the emit-api login cannot read tenant traffic, nor write presence, nor purge or delete the revocation list', async () => {
    const nc = await login(emitLogin);
    for (const subject of ['sig.alpha.test.ch.room', 'sig.>', '>']) {
      const error = await violation(nc, () => void nc.subscribe(subject));
      expect(error).toMatchObject({ operation: 'subscription', subject });
    }
    for (const subject of [
      '$KV.signal_presence.x',
      '$JS.API.STREAM.PURGE.KV_signal_presence',
      '$JS.API.STREAM.DELETE.KV_signal_presence',
      '$JS.API.STREAM.PURGE.KV_signal_revocations',
      '$JS.API.STREAM.DELETE.KV_signal_revocations',
    ]) {
      const error = await violation(nc, () => nc.publish(subject, '{}'));
      expect(error).toMatchObject({ operation: 'publish', subject });
    }
  });

  it('the webhooks login cannot read tenant traffic, nor write presence, online or revocation entries, nor delete the streams it reads', async () => {
    const nc = await login(webhooksLogin);
    for (const subject of ['sig.alpha.test.ch.room', 'sig.>', '$KV.signal_online.>']) {
      const error = await violation(nc, () => void nc.subscribe(subject));
      expect(error).toMatchObject({ operation: 'subscription', subject });
    }
    for (const subject of [
      'sig.alpha.test.all',
      '$KV.signal_presence.x',
      '$KV.signal_online.alpha.test.x.node',
      '$KV.signal_revocations.alpha.test.user.x',
      '$JS.API.STREAM.DELETE.KV_signal_presence',
      '$JS.API.STREAM.PURGE.KV_signal_online',
      '$JS.API.STREAM.DELETE.signal_webhook_events',
    ]) {
      const error = await violation(nc, () => nc.publish(subject, '{}'));
      expect(error).toMatchObject({ operation: 'publish', subject });
    }
  });

  it('a service whose password NATS stops accepting exits 1 at the next reconnect, to be restarted with the current one', async () => {
    const config = await writeTempFile('rotating.conf', 'authorization { users: [{ user: svc, password: sOld }] }\n');
    const nats = await startNats({ configFile: config, jetstream: true });
    try {
      const service = await startService({
        entry: EMIT_API_ENTRY,
        name: 'emit-api with a password about to change',
        env: { ...serviceEnv({ nats, appsFile: stack.appsFile }), NATS_USER: 'svc', NATS_PASSWORD: 'sOld' },
      });
      writeFileSync(config, 'authorization { users: [{ user: svc, password: sNew }] }\n');
      await nats.restart();
      expect((await service.exited).code).toBe(1);
      expect(service.lines().filter((l) => l.includes('sOld'))).toEqual([]);
    } finally {
      await nats.stop();
    }
  });

  it('a service started without credentials fails at once, naming the variables to set', async () => {
    const started = startService({ entry: EMIT_API_ENTRY, name: 'emit-api without credentials', env: serviceEnv(stack) });
    await expect(started).rejects.toThrow(/NATS refused the credentials.*none are set \(NATS_USER with NATS_PASSWORD, NATS_TOKEN or NATS_CREDS_FILE\)/);
  });
});

/** A CA and a server certificate for 127.0.0.1, made with openssl for this run. */
function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=signal test CA', '-keyout', 'ca-key.pem', '-out', 'ca.pem');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server-key.pem', '-out', 'server.csr');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '1', '-extfile', 'san.ext', '-out', 'server.pem');
  return { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server-key.pem') };
}

describe('TLS as docs/operations.md describes it: the shipped authorization plus a tls block, tls:// and NATS_TLS_CA_FILE', () => {
  let dir: string;
  let tlsNats: NatsServer;
  let ca: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'signal-nats-tls-'));
    const files = makeCertificates(dir);
    ca = files.ca;
    copyFileSync(NATS_CONF, join(dir, 'nats.conf'));
    const config = join(dir, 'tls.conf');
    writeFileSync(config, `include ./nats.conf\ntls {\n  cert_file: "${files.cert}"\n  key_file: "${files.key}"\n}\n`);
    tlsNats = await startNats({ configFile: config, env: natsEnv });
  });
  afterAll(async () => {
    await tlsNats?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const emitEnv = (nats: NatsServer, extra: Record<string, string>) => ({
    ...serviceEnv({ nats, appsFile: stack.appsFile }),
    ...emitLogin,
    NATS_URL: nats.url.replace('nats://', 'tls://'),
    ...extra,
  });

  it('the emit-api connects over TLS with the CA it is given, and serves', async () => {
    const service = await startService({ entry: EMIT_API_ENTRY, name: 'emit-api over TLS', env: emitEnv(tlsNats, { NATS_TLS_CA_FILE: ca }) });
    expect((await fetch(`http://127.0.0.1:${String(service.ready.adminPort)}/readyz`)).status).toBe(200);
    expect(service.lines().filter((l) => /permission/i.test(l))).toEqual([]);
    expect(await service.stop()).toBe(0);
  });

  it('without the CA the server certificate is not trusted; with tls:// a server without TLS is refused', async () => {
    await expect(startService({ entry: EMIT_API_ENTRY, name: 'emit-api without the CA', env: emitEnv(tlsNats, {}) })).rejects.toThrow(/emit-api failed to start: .*unable to verify the first certificate/);
    await expect(startService({ entry: EMIT_API_ENTRY, name: 'emit-api tls:// to plain NATS', env: emitEnv(stack.nats, {}) })).rejects.toThrow(/emit-api failed to start: .*server does not support 'tls'/);
  });
});
