import type { ServiceProcess } from '@signal/harness';
import type WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/poll.js';
import { sample, scrape } from '../support/admin.js';
import { keysOf, mintToken, startStack, type Stack } from '../support/stack.js';
import { closeAll, connected, refusals, refused, startGateway, tryConnect, wsUrl } from './support.js';

/**
 * Connection limits at the upgrade (docs/limits.md, "Gateway: connections"): each at its
 * limit works, one past it is refused with 429 `limit_exceeded` naming the variable, counted,
 * and a closed connection gives its place back.
 */
let stack: Stack;
/** Behind a trusted proxy (this machine): X-Forwarded-For says who the client is. */
let proxied: ServiceProcess;
/** No trusted proxies: X-Forwarded-For is ignored. */
let direct: ServiceProcess;
/** A small node. */
let small: ServiceProcess;

beforeAll(async () => {
  stack = await startStack({ gateways: 0 });
  [proxied, direct, small] = await Promise.all([
    startGateway(stack, 'proxied', {
      TRUSTED_PROXIES: '127.0.0.1, ::1',
      MAX_CONNECTIONS_PER_IP: '2',
      MAX_CONNECTIONS_PER_ENV: '3',
      MAX_CONNECTIONS_PER_IDENTITY: '2',
    }),
    startGateway(stack, 'direct', { MAX_CONNECTIONS_PER_IP: '2' }),
    startGateway(stack, 'small', { TRUSTED_PROXIES: '127.0.0.0/8', MAX_CONNECTIONS: '3' }),
  ]);
});
afterAll(async () => {
  await Promise.all([proxied, direct, small].map((g) => g?.stop()));
  await stack?.stop();
});

const keyUrl = (gateway: ServiceProcess, app: 'alpha' | 'beta' = 'alpha', env: 'test' | 'live' = 'test') =>
  `${wsUrl(gateway)}/v1/connect?key=${keysOf(stack, app, env).publishableKey}`;
const from = (ip: string) => ({ 'x-forwarded-for': ip });

describe('connections per client address (MAX_CONNECTIONS_PER_IP)', () => {
  it('behind a trusted proxy counts the forwarded address; one past the limit gets 429', async () => {
    const before = await refusals(proxied, 'max_connections_per_ip');
    const open = [await connected(keyUrl(proxied), from('203.0.113.1')), await connected(keyUrl(proxied), from('198.51.100.9, 203.0.113.1'))];
    const refusal = await refused(keyUrl(proxied), from('203.0.113.1'));
    expect(refusal.status).toBe(429);
    expect(refusal.body).toMatchObject({ code: 'limit_exceeded', statusCode: 429, limit: 'MAX_CONNECTIONS_PER_IP' });
    expect(refusal.body.error).toMatch(/203\.0\.113\.1 already has 2 connections .*\(MAX_CONNECTIONS_PER_IP\)/);
    // Another address is not affected.
    open.push(await connected(keyUrl(proxied), from('203.0.113.2')));
    expect(await refusals(proxied, 'max_connections_per_ip')).toBe(before + 1);
    expect(sample(await scrape(proxied), 'signal_gateway_connections_refused_total', { reason: 'limit_exceeded' })).toBeGreaterThanOrEqual(1);
    // A closed connection gives its place back.
    await closeAll(open.splice(0, 1));
    let again: WebSocket | undefined;
    await eventually(async () => {
      const result = await tryConnect(keyUrl(proxied), from('203.0.113.1'));
      if ('status' in result) return false;
      again = result as WebSocket;
      return true;
    }, 'a place freed by a closed connection');
    await closeAll([...open, again!]);
  });

  it('puts the client address in the opened, closed and refused log lines', async () => {
    const ws = await connected(keyUrl(proxied), from('203.0.113.50'));
    await closeAll([ws]);
    await refused(`${wsUrl(proxied)}/v1/connect?key=nope`, from('203.0.113.51'));
    await proxied.waitForLine((l) => l.includes('"msg":"connection closed"') && l.includes('"ip":"203.0.113.50"'));
    expect(proxied.lines().some((l) => l.includes('"msg":"connection opened"') && l.includes('"ip":"203.0.113.50"'))).toBe(true);
    await proxied.waitForLine((l) => l.includes('"msg":"connection refused"') && l.includes('"ip":"203.0.113.51"') && l.includes('"code":"unauthorized"'));
  });

  it('without trusted proxies ignores X-Forwarded-For: every socket from here is one address', async () => {
    const open = [await connected(keyUrl(direct), from('203.0.113.1')), await connected(keyUrl(direct), from('203.0.113.2'))];
    const refusal = await refused(keyUrl(direct), from('203.0.113.3'));
    expect(refusal).toMatchObject({ status: 429, body: { code: 'limit_exceeded', limit: 'MAX_CONNECTIONS_PER_IP' } });
    expect(refusal.body.error).toMatch(/^127\.0\.0\.1 already has 2 connections/);
    expect(await refusals(direct, 'max_connections_per_ip')).toBe(1);
    await closeAll(open);
  });
});

describe('connections per node (MAX_CONNECTIONS)', () => {
  it('takes its limit, then answers 429 until one closes', async () => {
    const open = [];
    for (let i = 1; i <= 3; i++) open.push(await connected(keyUrl(small, i % 2 ? 'alpha' : 'beta'), from(`192.0.2.${i}`)));
    const refusal = await refused(keyUrl(small, 'beta', 'live'), from('192.0.2.99'));
    expect(refusal).toMatchObject({ status: 429, body: { code: 'limit_exceeded', limit: 'MAX_CONNECTIONS' } });
    expect(refusal.body.error).toMatch(/this node has 3 connections, the most it takes \(MAX_CONNECTIONS\)/);
    expect(await refusals(small, 'max_connections')).toBe(1);
    await closeAll(open.splice(0, 1));
    await eventually(async () => {
      const result = await tryConnect(keyUrl(small), from('192.0.2.100'));
      if ('status' in result) return false;
      open.push(result as WebSocket);
      return true;
    }, 'a place on the node');
    await closeAll(open);
  });
});

describe('connections per app environment (MAX_CONNECTIONS_PER_ENV)', () => {
  it('refuses one past the limit for that environment only', async () => {
    const open = [];
    for (let i = 1; i <= 3; i++) open.push(await connected(keyUrl(proxied, 'beta'), from(`192.0.2.${10 + i}`)));
    const refusal = await refused(keyUrl(proxied, 'beta'), from('192.0.2.20'));
    expect(refusal).toMatchObject({ status: 429, body: { code: 'limit_exceeded', limit: 'MAX_CONNECTIONS_PER_ENV' } });
    expect(refusal.body.error).toMatch(/app beta \(test\) has 3 connections .*\(MAX_CONNECTIONS_PER_ENV\)/);
    // The same app's other environment, and a user token of it, are counted apart.
    open.push(await connected(keyUrl(proxied, 'beta', 'live'), from('192.0.2.21')));
    const token = await mintToken(stack, 'beta', 'usr_env', undefined, 'test');
    expect(await refused(`${wsUrl(proxied)}/v1/connect?token=${token}`, from('192.0.2.22'))).toMatchObject({ status: 429 });
    expect(await refusals(proxied, 'max_connections_per_env')).toBe(2);
    await closeAll(open);
  });
});

describe('connections per identity (MAX_CONNECTIONS_PER_IDENTITY)', () => {
  it('refuses a third connection of one user, not of another user or anonymous ones', async () => {
    const [token, other] = await Promise.all([mintToken(stack, 'alpha', 'usr_many'), mintToken(stack, 'alpha', 'usr_other')]);
    const url = (t: string) => `${wsUrl(proxied)}/v1/connect?token=${t}`;
    const open = [await connected(url(token), from('192.0.2.31')), await connected(url(token), from('192.0.2.32'))];
    const refusal = await refused(url(token), from('192.0.2.33'));
    expect(refusal).toMatchObject({ status: 429, body: { code: 'limit_exceeded', limit: 'MAX_CONNECTIONS_PER_IDENTITY' } });
    expect(refusal.body.error).toMatch(/usr_many already has 2 connections .*\(MAX_CONNECTIONS_PER_IDENTITY\)/);
    open.push(await connected(url(other), from('192.0.2.34')));
    expect(await refusals(proxied, 'max_connections_per_identity')).toBe(1);
    await closeAll(open);
  });
});
