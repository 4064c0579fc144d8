import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, readyz, sample, scrape } from '../support/admin.js';
import { RpcClient } from '../support/rpc-client.js';
import { connectNative, emit, keysOf, mintToken, startStack, type Stack } from '../support/stack.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 2 });
});
afterAll(async () => {
  await stack?.stop();
});

async function connect(gateway: number, identity: string): Promise<RpcClient> {
  const client = await connectNative(stack, { identity, device: 'web', gateway });
  await client.call('signal.join', { id: 'room' });
  return client;
}

const emitToRoom = (message: unknown) => emit(stack, '/v1/signals', keysOf(stack, 'alpha').secretKey, { to: { channel: 'room' }, message });

/**
 * Emits to the room until every client has received one of the emits. A join (or a resubscribe)
 * is acknowledged before the NATS server has necessarily processed the subscription, so a
 * message emitted in that instant may be missed: at most once. Bounded, so a delivery that
 * never resumes still fails.
 */
async function deliveredToAll(clients: RpcClient[], tag: string): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    expect((await emitToRoom({ tag, attempt })).status).toBe(202);
    const arrived = await Promise.all(
      clients.map((c) => c.next((f) => (f.params?.message as { tag?: string } | undefined)?.tag === tag, 1000).then(() => true, () => false)),
    );
    if (arrived.every(Boolean)) return;
  }
  throw new Error(`'${tag}' did not reach every client after 20 emits`);
}

describe('NATS stops and comes back under live traffic', () => {
  it('services stay up and report not-ready, clients stay connected, and delivery resumes without restarting anything', async () => {
    const services = [...stack.gateways, stack.emitApi];
    const ann = await connect(0, 'ann');
    const ben = await connect(1, 'ben');
    await deliveredToAll([ann, ben], 'before');

    await stack.nats.kill();
    for (const service of services) {
      await eventually(async () => (await readyz(service)).status === 503, 'readyz to report NATS down');
      expect((await readyz(service)).body.checks.nats).toMatchObject({ ready: false, detail: expect.stringContaining('NATS unreachable') });
      expect((await fetch(`http://127.0.0.1:${String(service.ready.adminPort)}/healthz`)).status).toBe(200);
    }

    // Nothing pretends to have sent: backends get 503, clients get an `unavailable` error.
    const refused = await emitToRoom('during');
    expect(refused).toMatchObject({ status: 503, body: { code: 'unavailable', statusCode: 503 } });
    expect(refused.body!.message).toMatch(/NATS.*unreachable.*nothing was sent/);
    const publish = await ann.request('signal.publish', { id: 'room', text: 'during' });
    expect(publish.error).toMatchObject({ code: -32050, data: { code: 'unavailable' } });
    const send = await ann.request('signal.send', { to: 'ben', text: 'during' });
    expect(send.error?.data?.code).toBe('unavailable');
    // Joining needs no round trip: the subscription is sent once NATS is back.
    expect(await ann.call('signal.join', { id: 'later' })).toEqual({ id: 'later' });
    expect(await ben.call('signal.join', { id: 'later' })).toEqual({ id: 'later' });
    // Tokens are minted locally and keep working.
    expect(await mintToken(stack, 'alpha', 'cat', 'web')).toMatch(/^eyJ/);

    await stack.nats.restart();
    for (const service of services) await eventually(async () => (await readyz(service)).status === 200, 'readyz to recover');
    for (const service of services) expect(service.pid).toBeGreaterThan(0);

    expect(ann.ws.readyState).toBe(ann.ws.OPEN);
    expect(ben.ws.readyState).toBe(ben.ws.OPEN);
    // The gateways resubscribe on reconnect.
    await deliveredToAll([ann, ben], 'after');
    await ann.call('signal.publish', { id: 'later', text: 'joined during the outage' });
    expect((await ben.next((f) => f.params?.id === 'later')).params).toMatchObject({ text: 'joined during the outage', from: ann.address });
    await ann.call('signal.send', { to: 'ben', text: 'direct' });
    expect((await ben.next((f) => f.method === 'signal.send')).params).toMatchObject({ text: 'direct' });
    expect(ann.received('signal.publish').filter((f) => f.params?.message === 'during' || f.params?.text === 'during')).toEqual([]);

    for (const service of services) {
      const metrics = await scrape(service);
      expect(sample(metrics, 'signal_nats_disconnects_total')).toBeGreaterThanOrEqual(1);
      expect(sample(metrics, 'signal_nats_reconnects_total')).toBeGreaterThanOrEqual(1);
      expect(sample(metrics, 'signal_nats_connected')).toBe(1);
      // The line reaches the harness through the process's stdout pipe, possibly after the metric changed.
      await eventually(() => service.lines().some((l) => l.includes('"msg":"nats reconnected"')), 'the "nats reconnected" log line');
    }
    ann.close();
    ben.close();
  });

  it('a gateway told to stop while NATS is down still closes its clients and exits by itself', async () => {
    const gateway = stack.gateways[1]!;
    const dan = await connect(1, 'dan');
    await stack.nats.kill();
    await eventually(async () => (await readyz(gateway)).status === 503, 'readyz to report NATS down');
    const exit = gateway.stop('SIGTERM', 30_000);
    expect((await dan.closed).code).toBe(1001);
    expect(await exit).toBe(0);
    await stack.nats.restart();
  });
});
