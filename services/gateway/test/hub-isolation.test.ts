import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { channelSubject, encodeEnvelope, type Envelope } from '@signal/core';
import { MessageGuard, type DropReason } from '@signal/operations';
import { pino } from 'pino';
import type { TemplatedApp } from 'uWebSockets.js';
import { describe, expect, it } from 'vitest';
import { createSession } from '../src/core/create-session.js';
import { Hub } from '../src/core/hub.js';
import { permissionsOf } from '../src/auth/permissions.js';
import { loadGatewayConfig } from '../src/config/gateway-config.js';
import { gatewayLimitsFrom } from '../src/limits/limit-vars.js';
import { RequestLimits } from '../src/limits/request-limits.js';
import type { Surface } from '../src/core/surface.js';

/**
 * The hub's handling of one NATS message, in memory: the subscription callback is called the
 * way nats.js calls it (synchronously, inside its read loop), so whatever escapes it would
 * escape into that loop. The end-to-end version is test/hostile/poisoned-nats.test.ts.
 */
const scope = { app: 'acme', env: 'test' as const };

function setup() {
  const callbacks = new Map<string, (error: Error | null, msg: Msg) => void>();
  const nc = {
    subscribe: (subject: string, options: { callback: (error: Error | null, msg: Msg) => void }) => {
      callbacks.set(subject, options.callback);
      return { unsubscribe: () => callbacks.delete(subject) };
    },
  } as unknown as NatsConnection;
  const published: string[] = [];
  const app = { publish: (topic: string, frame: string) => published.push(`${topic} ${frame}`) } as unknown as TemplatedApp;
  const drops: string[] = [];
  const guard = new MessageGuard({ log: pino({ level: 'silent' }), count: (source: string, reason: DropReason) => drops.push(`${source}:${reason}`) });
  const hub = new Hub(nc, app, 'node1', guard);
  const deliver = (subject: string, data: Uint8Array) => callbacks.get(subject)!(null, { subject, data, reply: '' } as unknown as Msg);
  return { hub, deliver, published, drops };
}

const principal = {
  scope,
  identity: 'ann',
  device: 'web',
  anonymous: false,
  permissions: permissionsOf({ anonymous: false, publishGranted: true, capability: undefined, send: undefined }, { policy: 'open', anonymous: ['*'], namespaces: [] }),
  expiresAt: undefined,
  token: undefined,
  credential: { publishableKeys: [], tokenKey: undefined },
};
const requests = new RequestLimits(gatewayLimitsFrom(loadGatewayConfig({ APPS_FILE: 'unused.json' })));
const client = () => ({ ip: '127.0.0.1', quota: requests.quota() });
/** Renders like a real surface, and throws the way JSON.stringify does on a payload nested too deep. */
const fragile: Surface = {
  name: 'fragile',
  render: (envelope) => {
    const fields = envelope.t === 'publish' ? envelope.fields : {};
    if (fields.poison) throw new RangeError('Maximum call stack size exceeded');
    return JSON.stringify(fields);
  },
};
const sturdy: Surface = { name: 'sturdy', render: () => 'frame' };

describe('hub isolation', () => {
  it('a render that throws costs only that surface that message: other surfaces get it, later messages flow', () => {
    const { hub, deliver, published, drops } = setup();
    // fragile first: without isolation per surface its exception would keep sturdy from rendering.
    for (const surface of [fragile, sturdy]) hub.join(createSession(hub, surface, principal, client()), 'room');
    const subject = channelSubject(scope, 'room');
    const message = (fields: Record<string, unknown>): Uint8Array => encodeEnvelope({ t: 'publish', ch: 'room', fields } satisfies Envelope);

    expect(() => deliver(subject, message({ poison: true }))).not.toThrow();
    expect(published).toEqual([`sturdy|${subject} frame`]);
    expect(drops).toEqual(['subject:failed']);

    deliver(subject, message({ n: 2 }));
    expect(published.slice(1)).toEqual([`fragile|${subject} {"n":2}`, `sturdy|${subject} frame`]);
  });

  it('drops what is not an envelope, counted as invalid, and goes on', () => {
    const { hub, deliver, published, drops } = setup();
    hub.join(createSession(hub, sturdy, principal, client()), 'room');
    const subject = channelSubject(scope, 'room');
    for (const bad of ['', 'null', '{"t":"nope"}', '\u00ff\u0000']) deliver(subject, new TextEncoder().encode(bad));
    deliver(subject, Uint8Array.from([0xc3, 0x28]));
    expect(drops).toEqual(Array(5).fill('subject:invalid'));
    deliver(subject, encodeEnvelope({ t: 'publish', ch: 'room', fields: {} }));
    expect(published).toEqual([`sturdy|${subject} frame`]);
  });
});
