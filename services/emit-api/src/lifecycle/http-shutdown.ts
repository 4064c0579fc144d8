import type { Server } from 'node:http';
import type { Shutdown } from '@signal/operations';

const IDLE_SWEEP_MS = 100;

/**
 * Stops accepting connections at `stop-intake`; at `close-clients` waits for requests in
 * flight to be answered, closing each keep-alive connection as soon as it falls idle.
 */
export function addHttpShutdown(shutdown: Shutdown, server: Server): void {
  let closed: Promise<void> | undefined;
  shutdown.add('stop-intake', 'http listener', () => {
    closed = new Promise<void>((resolve) => server.close(() => resolve()));
  });
  shutdown.add('close-clients', 'requests in flight', async () => {
    const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
    server.closeIdleConnections();
    try {
      await closed;
    } finally {
      clearInterval(sweep);
    }
  });
}
