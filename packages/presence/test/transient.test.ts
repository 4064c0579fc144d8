import { RequestError, connect, errors } from '@nats-io/transport-node';
import { JetStreamApiError } from '@nats-io/jetstream';
import { jserrors } from '@nats-io/jetstream/internal';
import { ConfigError, SignalError } from '@signal/core';

/** What nats.js throws for a JetStream request without responders (not exported from its main entry). */
const { JetStreamNotEnabled } = jserrors;
import { startNats } from '@signal/harness';
import { describe, expect, it } from 'vitest';
import { isTransient, requireJetStream, retryTransient, waitAtStart } from '../src/mod.js';

const noResponders = () => new RequestError('no responders', { cause: new errors.NoRespondersError('$KV.b.k') });
const apiError = (code: number) => new JetStreamApiError({ err_code: code, code: 503, description: 'JetStream system temporarily unavailable' });
const policy = (deadlineMs: number) => ({ deadlineMs, firstDelayMs: 1, maxDelayMs: 5 });
const quiet = { warn: () => undefined, info: () => undefined };

describe('isTransient: typed errors and API codes, never message text', () => {
  it.each([
    ['a request timeout', new errors.TimeoutError(), true],
    ['no responders (a stream without a leader)', noResponders(), true],
    ["nats.js's JetStreamNotEnabled over no responders", new JetStreamNotEnabled('jetstream is not enabled', { cause: noResponders() }), true],
    ['10008 JetStream system temporarily unavailable', apiError(10008), true],
    ['10009 cluster can not handle request', apiError(10009), true],
    ['our unavailable error wrapping a timeout', new SignalError('unavailable', 'presence store is unreachable', { cause: new errors.TimeoutError() }), true],
    ['JetStream not enabled for the account (10039)', new JetStreamNotEnabled('not enabled', { cause: apiError(10039) }), false],
    ['wrong last sequence (10071)', apiError(10071), false],
    ['a plain error that only says "timeout"', new Error('timeout'), false],
    ['a permission violation', new errors.PermissionViolationError('Permissions Violation for Publish to "$KV.x"', 'publish', '$KV.x'), false],
    ['not an error', 'timeout', false],
  ])('%s → %s', (_label, error, expected) => {
    expect(isTransient(error)).toBe(expected);
  });
});

describe('retryTransient', () => {
  it('retries transient errors until the operation succeeds', async () => {
    let calls = 0;
    const seen: number[] = [];
    const result = await retryTransient(
      async () => {
        if (++calls < 4) throw new errors.TimeoutError();
        return 'done';
      },
      policy(5000),
      (_error, attempt) => seen.push(attempt),
    );
    expect(result).toBe('done');
    expect(seen).toEqual([1, 2, 3]);
  });

  it('fails at once on a non-transient error', async () => {
    let calls = 0;
    await expect(retryTransient(async () => {
      calls++;
      throw apiError(10071);
    }, policy(5000))).rejects.toBeInstanceOf(JetStreamApiError);
    expect(calls).toBe(1);
  });

  it('gives up with the last error once the deadline has passed; deadline 0 is one attempt', async () => {
    let calls = 0;
    const failing = async () => {
      calls++;
      throw new errors.TimeoutError();
    };
    await expect(retryTransient(failing, policy(0))).rejects.toBeInstanceOf(errors.TimeoutError);
    expect(calls).toBe(1);
    calls = 0;
    const started = performance.now();
    await expect(retryTransient(failing, policy(60))).rejects.toBeInstanceOf(errors.TimeoutError);
    expect(calls).toBeGreaterThan(1);
    expect(performance.now() - started).toBeGreaterThanOrEqual(60);
  });
});

describe('start-up against a server without JetStream', () => {
  it('fails fast with a ConfigError naming the fix, instead of waiting', async () => {
    const nats = await startNats({ jetstream: false });
    const nc = await connect({ servers: nats.url });
    try {
      const attempt = waitAtStart('the presence buckets', () => requireJetStream(nc), quiet);
      await expect(attempt).rejects.toBeInstanceOf(ConfigError);
      await expect(attempt).rejects.toThrow(/NATS has no JetStream/);
    } finally {
      await nc.close();
      await nats.stop();
    }
  });
});
