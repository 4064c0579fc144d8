import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';

/**
 * A compare-and-set write lost: the key moved on since the revision we named. JetStream
 * answers with API error 10071 (`StreamWrongLastSequence`), or 10164 when it cannot tell the
 * key's last sequence; KV `update`, `create` and `delete` reject with that typed error.
 */
export function isWrongLastSequence(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence || error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}
