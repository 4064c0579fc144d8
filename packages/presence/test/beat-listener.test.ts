import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNats, type NatsServer } from '@signal/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BeatListener, beatSubject, type EntryGuard } from '../src/mod.js';

let nats: NatsServer;
let nc: NatsConnection;
const guard: EntryGuard = { wrap: (_source, handler) => handler, drop: () => undefined };

beforeAll(async () => {
  nats = await startNats({ jetstream: false });
  nc = await connect({ servers: nats.url });
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

/** Publishes on `subject` and waits until the listener has had the chance to see it (a flush round trip). */
async function beat(subject: string): Promise<void> {
  nc.publish(subject);
  await nc.flush();
}

describe('BeatListener', () => {
  it('hears beats per node on its own clock, counts a node never heard as silent since it started, and forgives', async () => {
    let now = 1000;
    const listener = new BeatListener(nc, 'bucket_a', guard, () => now);
    listener.start();
    await nc.flush();
    now = 1500;
    await beat(beatSubject('bucket_a', 'node0001'));
    expect(listener.silentFor('node0001')).toBe(0);
    expect(listener.silentFor('neverheard')).toBe(500);
    now = 2700;
    expect(listener.silentFor('node0001')).toBe(1200);
    listener.forgiveAll();
    expect(listener.silentFor('node0001')).toBe(0);
    expect(listener.silentFor('neverheard')).toBe(0);
    // Forgiven with a grace: silent only from its end, however long before it was heard.
    listener.forgiveAll(1000);
    now = 3500;
    expect(listener.silentFor('node0001')).toBe(0);
    now = 4200;
    expect(listener.silentFor('node0001')).toBe(500);
    listener.stop();
  });

  it('ignores beats of another bucket and subjects that are not a node id', async () => {
    let now = 0;
    const listener = new BeatListener(nc, 'bucket_b', guard, () => now);
    listener.start();
    await nc.flush();
    now = 100;
    await beat(beatSubject('bucket_other', 'node0002'));
    await beat(beatSubject('bucket_b', 'NOT_A_NODE'));
    await beat(beatSubject('bucket_b', 'x'));
    now = 600;
    expect(listener.silentFor('node0002')).toBe(600);
    expect(listener.silentFor('NOT_A_NODE')).toBe(600);
    listener.stop();
  });

  it('forgets nodes unheard for many timeouts, so hostile node ids cannot grow it without bound', async () => {
    let now = 0;
    const listener = new BeatListener(nc, 'bucket_c', guard, () => now);
    listener.start();
    await nc.flush();
    now = 5000;
    await beat(beatSubject('bucket_c', 'node0003'));
    now = 30_000;
    expect(listener.silentFor('node0003')).toBe(25_000);
    listener.prune(1000);
    // Forgotten (unheard for more than 20 node timeouts): silent since the listener started.
    expect(listener.silentFor('node0003')).toBe(30_000);
    listener.stop();
  });
});
