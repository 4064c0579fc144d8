import { RequestError } from '@nats-io/transport-node';

/**
 * A request nobody subscribes to. nats.js v3 rejects it with a `RequestError` whose cause is a
 * `NoRespondersError`; ask the typed error rather than its message or name.
 */
export function isNoResponders(error: unknown): boolean {
  return error instanceof RequestError && error.isNoResponders();
}
