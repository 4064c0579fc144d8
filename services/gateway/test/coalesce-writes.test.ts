import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNats, type NatsServer } from '@signal/harness';
import { coalesceWrites } from '@signal/operations';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let nats: NatsServer;
let receiver: NatsConnection;
beforeAll(async () => {
  nats = await startNats({ jetstream: false });
  receiver = await connect({ servers: nats.url });
});
afterAll(async () => {
  await receiver?.close();
  await nats?.stop();
});

/** Counts the writes nats.js hands its socket (its transport is internal: read, never changed, here). */
function countWrites(nc: NatsConnection): () => number {
  const transport = (nc as unknown as { protocol: { transport: { send: (frame: Uint8Array) => void } } }).protocol.transport;
  let writes = 0;
  const send = transport.send.bind(transport);
  transport.send = (frame) => {
    writes++;
    send(frame);
  };
  return () => writes;
}

/**
 * Subscribes and waits until the server has the subscription (a message published before that
 * would be dropped by the server and never arrive); then the messages, once `count` came.
 */
async function subscribed(subject: string, count: number): Promise<{ received: Promise<string[]> }> {
  const sub = receiver.subscribe(subject, { max: count });
  await receiver.flush();
  const received = (async () => {
    const got: string[] = [];
    for await (const msg of sub) got.push(msg.string());
    return got;
  })();
  return { received };
}

/** What one turn of a busy server looks like: many sends, each in its own microtask checkpoint. */
async function sendAcrossMicrotasks(nc: NatsConnection, subject: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    nc.publish(subject, String(i));
    await Promise.resolve();
  }
}

describe('coalesceWrites', () => {
  it('writes what one event-loop turn sends in one write, in order', async () => {
    const plain = await connect({ servers: nats.url });
    const coalesced = await connect({ servers: nats.url });
    expect(coalesceWrites(coalesced)).toBe(true);
    const plainWrites = countWrites(plain);
    const coalescedWrites = countWrites(coalesced);
    const plainGot = (await subscribed('cw.plain', 50)).received;
    const coalescedGot = (await subscribed('cw.coalesced', 50)).received;
    await sendAcrossMicrotasks(plain, 'cw.plain', 50);
    await sendAcrossMicrotasks(coalesced, 'cw.coalesced', 50);
    const expected = Array.from({ length: 50 }, (_, i) => String(i));
    expect(await coalescedGot).toEqual(expected);
    expect(await plainGot).toEqual(expected);
    expect(plainWrites()).toBe(50);
    expect(coalescedWrites()).toBe(1);
    // Requests and flushes still go out (a flush is a PING answered by a PONG).
    await coalesced.flush();
    await Promise.all([plain.close(), coalesced.close()]);
  });

  it('drains (how services close) with what is pending written first', async () => {
    const nc = await connect({ servers: nats.url });
    coalesceWrites(nc);
    const got = (await subscribed('cw.closing', 1)).received;
    nc.publish('cw.closing', 'last words');
    await nc.drain();
    expect(await got).toEqual(['last words']);
  });

  it('changes nothing on a client that is not shaped as expected', () => {
    expect(coalesceWrites({} as NatsConnection)).toBe(false);
  });
});
