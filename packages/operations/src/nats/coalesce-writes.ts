import type { NatsConnection } from '@nats-io/transport-node';

/** The parts of nats.js's protocol handler (internal, @nats-io/nats-core 3.x) this relies on. */
interface ProtocolInternals {
  flushPending: () => void;
  outbound: { size: () => number };
  pendingLimit: number;
}

/**
 * Makes a connection write what it sends once per event-loop turn instead of once per
 * microtask checkpoint. nats.js writes its outbound buffer to the socket at the first microtask
 * checkpoint after a command, and a server handling many sockets reaches one after every
 * WebSocket frame and every NATS message it handles: one write (a syscall, a stream write and a
 * promise) per presence operation step. Deferred to `setImmediate`, everything sent in one turn
 * goes out in one write, right after the turn's I/O callbacks; a buffer past nats.js's own flush
 * threshold (32 KiB) is still written at once, and `drain()` (how services close) writes everything
 * before it closes, as before (a flush is a PING like any other command). Returns false, changing nothing, when the client
 * is not shaped as expected (another nats.js version): it is only an optimisation.
 */
export function coalesceWrites(nc: NatsConnection): boolean {
  const protocol = (nc as unknown as { protocol?: Partial<ProtocolInternals> }).protocol;
  if (
    typeof protocol?.flushPending !== 'function' ||
    typeof protocol.outbound?.size !== 'function' ||
    typeof protocol.pendingLimit !== 'number'
  ) {
    return false;
  }
  const internals = protocol as ProtocolInternals;
  const flushNow = internals.flushPending.bind(internals);
  let scheduled = false;
  const flushScheduled = (): void => {
    scheduled = false;
    flushNow();
  };
  internals.flushPending = () => {
    if (internals.outbound.size() >= internals.pendingLimit) return flushNow();
    if (scheduled) return;
    scheduled = true;
    setImmediate(flushScheduled);
  };
  return true;
}
