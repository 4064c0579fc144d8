import { connectionSubject, deviceSubject, userSubject, type Scope } from '@signal/core';
import { MessageGuard } from '@signal/operations';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ForcedCloses } from '../src/core/forced-closes.js';
import type { Hub } from '../src/core/hub.js';
import type { CloseCode, Session } from '../src/core/session.js';
import { SessionIndex } from '../src/core/session-index.js';

const alpha: Scope = { app: 'alpha', env: 'test' };
const beta: Scope = { app: 'beta', env: 'test' };
const log = pino({ level: 'silent' });

/** Sessions in an index, each recording how it was closed; the hub stand-in holds only what ForcedCloses reads. */
function setup(specs: Array<{ scope: Scope; identity: string; device: string; route: string; jti?: string; iat?: number }>) {
  const index = new SessionIndex();
  const closes = new Map<string, number>();
  const sessions = specs.map((spec) => {
    const session = {
      ...spec,
      anonymous: false,
      token: { id: spec.jti, issuedAt: spec.iat },
      ws: {},
      closeWith: (close: CloseCode) => {
        closes.set(spec.route, close.code);
        index.remove(session);
        session.ws = undefined as never;
      },
    } as unknown as Session;
    index.add(session);
    return session;
  });
  const hub = { index, session: (route: string) => sessions.find((s) => s.route === route && s.ws) } as unknown as Hub;
  const guard = new MessageGuard({ log, count: () => undefined });
  return { forced: new ForcedCloses(hub, guard, log), closes };
}

const people = [
  { scope: alpha, identity: 'ann', device: 'phone', route: 'node1-1', jti: 'j1', iat: 100 },
  { scope: alpha, identity: 'ann', device: 'web', route: 'node1-2', jti: 'j2', iat: 200 },
  { scope: beta, identity: 'ann', device: 'phone', route: 'node1-3', jti: 'j1', iat: 100 },
];

describe('forced closes', () => {
  it('a disconnect closes what its address names, with 4004, only when it came on that address\'s own subject', () => {
    const { forced, closes } = setup(people);
    forced.command(alpha, userSubject(beta, 'ann'), { t: 'disconnect', to: 'ann' });
    forced.command(alpha, userSubject(alpha, 'bob'), { t: 'disconnect', to: 'ann' });
    forced.command(alpha, userSubject(alpha, 'ann'), { t: 'disconnect', to: 'not/a/valid/address' });
    expect(closes.size).toBe(0);
    forced.command(alpha, deviceSubject(alpha, 'ann', 'web'), { t: 'disconnect', to: 'ann/web' });
    expect([...closes]).toEqual([['node1-2', 4004]]);
    forced.command(alpha, userSubject(alpha, 'ann'), { t: 'disconnect', to: 'ann' });
    expect([...closes].sort()).toEqual([['node1-1', 4004], ['node1-2', 4004]]);
  });

  it('a connection disconnect needs the right scope, identity and device', () => {
    const { forced, closes } = setup(people);
    forced.command(beta, connectionSubject(beta, 'node1', 'node1-1'), { t: 'disconnect', to: 'ann/phone/node1-1' });
    forced.command(alpha, connectionSubject(alpha, 'node1', 'node1-1'), { t: 'disconnect', to: 'ann/web/node1-1' });
    expect(closes.size).toBe(0);
    forced.command(alpha, connectionSubject(alpha, 'node1', 'node1-1'), { t: 'disconnect', to: 'ann/phone/node1-1' });
    expect([...closes]).toEqual([['node1-1', 4004]]);
  });

  it('a revocation closes with 4003 the sessions whose token it covers, in its own scope only', () => {
    const { forced, closes } = setup(people);
    forced.revoked({ kind: 'jti', scope: alpha, jti: 'j1', at: 0 });
    expect([...closes]).toEqual([['node1-1', 4003]]);
    forced.revoked({ kind: 'user', scope: alpha, identity: 'ann', before: 200, at: 0 });
    expect(closes.has('node1-2')).toBe(false);
    forced.revoked({ kind: 'user', scope: alpha, identity: 'ann', before: 200.001, at: 0 });
    expect(closes.get('node1-2')).toBe(4003);
    expect(closes.has('node1-3')).toBe(false);
  });
});
