import { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, type ConsumerConfig, type ConsumerInfo, type JetStreamManager } from '@nats-io/jetstream';
import { WEBHOOK_EVENTS_PREFIX } from '@signal/core';
import type { Endpoint } from './endpoints.js';

const NS = 1_000_000;

export interface EndpointConsumerOptions {
  /** WEBHOOK_MAX_PENDING: events of the endpoint held unacknowledged at once (in memory, by its owner). */
  maxPending: number;
  /** WEBHOOK_LEASE_MS: an event unacknowledged this long (no ack, no in-progress) goes to the next owner. */
  ackWaitMs: number;
}

/** `wh_<app>_<env>_<endpoint id>`: app ids are `[a-z0-9_-]`, so this is a valid, unique consumer name. */
export function consumerName(endpoint: Pick<Endpoint, 'app' | 'env' | 'id'>): string {
  return `wh_${endpoint.app}_${endpoint.env}_${endpoint.id}`;
}

/**
 * Creates the endpoint's durable consumer (every partition of its environment) where missing, from
 * the events stored from then on; an existing one keeps its position and takes the current limits.
 * Versions before 0.2 kept one consumer per partition (`<name>_<partition>`): when those exist, the
 * new one starts after the least advanced of their acknowledgement floors, so an upgrade loses no
 * event (the partitions that were further along get some of theirs again), and they are deleted.
 */
export async function ensureEndpointConsumer(
  jsm: JetStreamManager,
  stream: string,
  endpoint: Endpoint,
  options: EndpointConsumerOptions,
  existing: () => Promise<ConsumerInfo[]>,
): Promise<string> {
  const name = consumerName(endpoint);
  const limits = { max_ack_pending: options.maxPending, ack_wait: options.ackWaitMs * NS };
  try {
    await jsm.consumers.info(stream, name);
    await jsm.consumers.update(stream, name, limits);
    return name;
  } catch (error) {
    if (!isConsumerNotFound(error)) throw error;
  }
  const partitionConsumers = (await existing()).filter((c) => new RegExp(`^${name}_\\d+$`).test(c.name));
  const config: Partial<ConsumerConfig> = {
    ...limits,
    durable_name: name,
    filter_subject: `${WEBHOOK_EVENTS_PREFIX}.${endpoint.app}.${endpoint.env}.*`,
    ack_policy: AckPolicy.Explicit,
    max_deliver: -1,
    deliver_policy: DeliverPolicy.New,
  };
  if (partitionConsumers.length > 0) {
    config.deliver_policy = DeliverPolicy.StartSequence;
    config.opt_start_seq = Math.min(...partitionConsumers.map((c) => c.ack_floor.stream_seq)) + 1;
  }
  await jsm.consumers.add(stream, config);
  for (const old of partitionConsumers) await deleteConsumer(jsm, stream, old.name);
  return name;
}

/** Deletes a consumer; one already gone is fine. */
export async function deleteConsumer(jsm: JetStreamManager, stream: string, name: string): Promise<void> {
  try {
    await jsm.consumers.delete(stream, name);
  } catch (error) {
    if (!isConsumerNotFound(error)) throw error;
  }
}

function isConsumerNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound;
}
