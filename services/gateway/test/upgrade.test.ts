import { Writable } from 'node:stream';
import { AuthError, SignalError, TokenError } from '@signal/core';
import { pino } from 'pino';
import uWS from 'uWebSockets.js';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientAddresses } from '../src/limits/client-address.js';
import { upgradeWith } from '../src/server/upgrade.js';

/**
 * How a refused upgrade is answered, on a real uWS server in this process: by the error's own
 * status and message, and "internal error" (500, cause logged) for anything that is not a
 * SignalError, whose text may hold internals.
 */
const logs: Array<Record<string, unknown>> = [];
const log = pino(
  { level: 'info' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  }),
);
let listen: uWS.us_listen_socket;
let port: number;

const failures: Record<string, () => never> = {
  auth: () => {
    throw new AuthError('token expired');
  },
  revoked: () => {
    throw new TokenError('revoked', 'token has been revoked; get a new token');
  },
  limit: () => {
    throw new SignalError('limit_exceeded', 'too many (MAX_X)', { data: { limit: 'MAX_X' } });
  },
  bug: () => {
    throw new TypeError('cannot read properties of undefined (secret internals)');
  },
};

beforeAll(async () => {
  const app = uWS.App();
  app.ws('/*', {
    upgrade: (res, req, context) =>
      upgradeWith(res, req, context, { path: '/test', addresses: new ClientAddresses(''), log }, (request) => {
        const fail = failures[request.query.get('fail') ?? ''];
        if (fail) fail();
        return {};
      }),
  });
  listen = await new Promise((resolve) => app.listen('127.0.0.1', 0, (socket) => resolve(socket as uWS.us_listen_socket)));
  port = uWS.us_socket_local_port(listen);
});
afterAll(() => {
  uWS.us_listen_socket_close(listen);
});

function attempt(fail: string): Promise<{ status: number; body: Record<string, unknown> } | 'open'> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/?fail=${fail}`);
    ws.once('open', () => {
      ws.close();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += String(c)));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(body) as Record<string, unknown> }));
    });
    ws.once('error', reject);
  });
}

describe('upgradeWith', () => {
  it('accepts when the check passes', async () => {
    expect(await attempt('none')).toBe('open');
  });

  it('answers an auth error with 401 and its message', async () => {
    expect(await attempt('auth')).toEqual({ status: 401, body: { error: 'token expired', code: 'unauthorized', statusCode: 401 } });
  });

  it('names a token failure\'s stable reason', async () => {
    expect(await attempt('revoked')).toEqual({
      status: 401,
      body: { error: 'token has been revoked; get a new token', code: 'unauthorized', reason: 'revoked', statusCode: 401 },
    });
  });

  it('answers a limit with 429, naming the limit', async () => {
    expect(await attempt('limit')).toEqual({ status: 429, body: { error: 'too many (MAX_X)', code: 'limit_exceeded', statusCode: 429, limit: 'MAX_X' } });
    expect(logs.some((l) => l.msg === 'connection refused' && l.ip === '127.0.0.1' && l.code === 'limit_exceeded')).toBe(true);
  });

  it('answers anything else with 500 "internal error", and logs the cause at error level', async () => {
    expect(await attempt('bug')).toEqual({ status: 500, body: { error: 'internal error', code: 'internal', statusCode: 500 } });
    const line = logs.find((l) => l.msg === 'upgrade failed');
    expect(line).toMatchObject({ level: 50, ip: '127.0.0.1', err: { message: 'cannot read properties of undefined (secret internals)' } });
  });
});
