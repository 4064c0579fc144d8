import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { WEBHOOK_EVENTS_PREFIX } from '@signal/core';
import { startNats, type NatsServer } from '@signal/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumerName, ensureEndpointConsumer } from '../src/deliver/endpoint-consumer.js';
import type { Endpoint } from '../src/deliver/endpoints.js';

let nats: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
const STREAM = 'events';
const endpoint: Endpoint = { app: 'app', env: 'test', id: '0123456789abcdef', url: 'http://127.0.0.1:1/hooks', events: new Set(['member_added']), secrets: ['s'] };
const limits = { maxPending: 500, ackWaitMs: 3000 };

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: STREAM, subjects: [`${WEBHOOK_EVENTS_PREFIX}.>`], storage: 'memory' as never });
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

const list = async () => {
  const out = [];
  for await (const info of jsm.consumers.list(STREAM)) out.push(info);
  return out;
};

describe('the endpoint consumer (upgrade from one consumer per partition)', () => {
  it('starts after the least advanced partition consumer, deletes them, and is kept (with new limits) afterwards', async () => {
    const js = jetstream(nc);
    // Two partitions of the previous version: partition 0 delivered and acknowledged its first event, partition 1 nothing yet.
    for (const p of [0, 1]) {
      await jsm.consumers.add(STREAM, {
        durable_name: `${consumerName(endpoint)}_${p}`,
        filter_subject: `${WEBHOOK_EVENTS_PREFIX}.app.test.${p}`,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
      });
    }
    await js.publish(`${WEBHOOK_EVENTS_PREFIX}.app.test.0`, 'e1');
    await js.publish(`${WEBHOOK_EVENTS_PREFIX}.app.test.1`, 'e2');
    await js.publish(`${WEBHOOK_EVENTS_PREFIX}.app.test.0`, 'e3');
    const first = await (await js.consumers.get(STREAM, `${consumerName(endpoint)}_0`)).next();
    expect(first?.string()).toBe('e1');
    await first!.ackAck();

    const name = await ensureEndpointConsumer(jsm, STREAM, endpoint, limits, list);
    expect(name).toBe(consumerName(endpoint));
    expect((await list()).map((c) => c.name)).toEqual([name]);
    // Partition 1 had acknowledged nothing: everything from seq 1 comes again (at least once, never lost).
    const consumer = await js.consumers.get(STREAM, name);
    const got: string[] = [];
    for (let i = 0; i < 3; i++) {
      const msg = await consumer.next({ expires: 2000 });
      got.push(msg!.string());
      msg!.ack();
    }
    expect(got).toEqual(['e1', 'e2', 'e3']);

    // Again: the consumer keeps its position and takes the limits given now.
    await ensureEndpointConsumer(jsm, STREAM, endpoint, { maxPending: 7, ackWaitMs: 4000 }, list);
    const info = await jsm.consumers.info(STREAM, name);
    expect(info.config.max_ack_pending).toBe(7);
    expect(info.config.ack_wait).toBe(4000 * 1_000_000);
    expect(info.ack_floor.stream_seq).toBeGreaterThanOrEqual(2);
  });

  it('without earlier consumers, starts with the events stored from now on', async () => {
    const other = { ...endpoint, id: 'fedcba9876543210' };
    const js = jetstream(nc);
    await js.publish(`${WEBHOOK_EVENTS_PREFIX}.app.test.3`, 'before');
    const name = await ensureEndpointConsumer(jsm, STREAM, other, limits, list);
    await js.publish(`${WEBHOOK_EVENTS_PREFIX}.app.test.3`, 'after');
    const msg = await (await js.consumers.get(STREAM, name)).next({ expires: 2000 });
    expect(msg?.string()).toBe('after');
  });
});
