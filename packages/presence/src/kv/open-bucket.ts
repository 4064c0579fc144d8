import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV, type KvOptions, type KvStatus } from '@nats-io/kv';
import { SignalError } from '@signal/core';

/** One setting an existing bucket is checked for, reported as `<setting> <actual> (configured <expected>, <from>)`. */
export interface BucketExpectation {
  readonly setting: string;
  readonly actual: (status: KvStatus) => number | string;
  readonly expected: number | string;
  /** Where the expected value comes from (a variable), when an operator can change it. */
  readonly from?: string;
  /** `configured` (default) for a value from the environment, `expected` for one fixed in code. */
  readonly label?: 'configured' | 'expected';
  readonly unit?: string;
}

export interface OpenedBucket {
  readonly kv: KV;
  readonly status: KvStatus;
  /** The expectations the bucket does not meet, for a start-up warning. */
  readonly mismatches: string[];
}

/**
 * Opens a KV bucket, creating it with `options` when missing. An existing bucket is used as it
 * is (changing a live bucket's settings is an operator's decision), and every expectation it
 * does not meet is reported instead. Any failure is `unavailable`, naming the bucket and
 * `requirement`: what NATS must offer for it to open.
 */
export async function openKvBucket(
  nc: NatsConnection,
  what: string,
  bucket: string,
  options: Partial<KvOptions>,
  expectations: readonly BucketExpectation[],
  requirement = 'NATS must run with JetStream enabled (nats-server -js)',
): Promise<OpenedBucket> {
  try {
    const kv = await new Kvm(jetstream(nc)).create(bucket, options);
    const status = await kv.status();
    const mismatches: string[] = [];
    for (const { setting, actual, expected, from, label = 'configured', unit = '' } of expectations) {
      const value = actual(status);
      if (value !== expected) mismatches.push(`${setting} ${value}${unit} (${label} ${expected}${unit}${from === undefined ? '' : `, ${from}`})`);
    }
    return { kv, status, mismatches };
  } catch (cause) {
    throw new SignalError('unavailable', `cannot open the ${what} '${bucket}': ${(cause as Error).message}; ${requirement}`, { cause });
  }
}
