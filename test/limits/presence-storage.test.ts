import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RpcClient } from '../support/rpc-client.js';
import { connectNative, startStack, type Stack } from '../support/stack.js';
import { refusals, startGateway } from './support.js';

/**
 * The presence bucket's own limits (docs/limits.md, "Presence storage"): created with
 * PRESENCE_MAX_BYTES and a largest value derived from PRESENCE_MAX_STATE_BYTES. A full bucket
 * refuses joins cleanly with limit_exceeded and the connection goes on; leaves still go
 * through and make room.
 */
const STORE = { PRESENCE_MAX_BYTES: '1048576', PRESENCE_MAX_STATE_BYTES: '65536' };
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 1, gatewayEnv: { ...STORE, MAX_FRAME_BYTES: '262144', MAX_PRESENCE_CHANNELS_PER_CONNECTION: '100', JOIN_BURST: '200' }, emitEnv: STORE });
});
afterAll(async () => {
  await stack?.stop();
});

const bigState = { blob: 'x'.repeat(60_000) };

describe('presence storage', () => {
  it('a full bucket refuses the next join with limit_exceeded, keeps the connection, and a leave makes room', async () => {
    const gateway = stack.gateways[0]!;
    const client: RpcClient = await connectNative(stack, { identity: 'usr_big', device: 'd', gateway: 0 });
    let joined = 0;
    let refusal;
    // 1 MiB holds about sixteen 60 KB entries; the loop is bounded in case it never fills.
    for (; joined < 40; joined++) {
      const answer = await client.request('signal.join', { id: `big-${joined}`, presence: true, state: bigState });
      if (answer.error) {
        refusal = answer.error;
        break;
      }
    }
    expect(joined).toBeGreaterThan(5);
    expect(refusal).toMatchObject({ code: -32029, data: { code: 'limit_exceeded' } });
    expect(refusal!.message).toBe('presence storage is full (PRESENCE_MAX_BYTES); try again later');
    expect(await refusals(gateway, 'presence_max_bytes')).toBe(1);
    // A state over PRESENCE_MAX_STATE_BYTES is refused before the store, and counted too.
    const tooBig = await client.request('signal.join', { id: 'huge', presence: true, state: { blob: 'x'.repeat(70_000) } });
    expect(tooBig.error).toMatchObject({ data: { code: 'limit_exceeded', field: 'state' } });
    expect(await refusals(gateway, 'presence_max_state_bytes')).toBe(1);
    // Still connected and served.
    expect((await client.request('signal.join', { id: 'plain' })).result).toEqual({ id: 'plain' });
    // A leave replaces an entry with a small delete marker: the refused join fits now.
    expect((await client.request('signal.leave', { id: 'big-0' })).error).toBeUndefined();
    expect((await client.request('signal.join', { id: `big-${joined}`, presence: true, state: { small: true } })).error).toBeUndefined();
    client.close();
  });

  it('a gateway configured otherwise uses the existing bucket and reports the differences', async () => {
    const other = await startGateway(stack, 'other', { PRESENCE_MAX_BYTES: '2097152', PRESENCE_MAX_STATE_BYTES: '1024' });
    try {
      const line = other.lines().find((l) => l.includes('presence bucket exists with other settings'));
      expect(line).toContain('max_bytes 1048576 (configured 2097152, PRESENCE_MAX_BYTES)');
      expect(line).toContain(`max value size ${65536 + 4096} (configured ${1024 + 4096}, from PRESENCE_MAX_STATE_BYTES)`);
    } finally {
      await other.stop();
    }
  });
});
