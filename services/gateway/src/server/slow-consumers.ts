import type { MessageGuard } from '@signal/operations';
import type { Logger } from 'pino';
import { socketStats } from '../metrics/gateway-metrics.js';
import { CLOSE_SLOW_CONSUMER } from './close-codes.js';
import type { OpenSockets } from './open-sockets.js';

/** How often every socket's send queue is looked at (about 45 ns per socket). */
export const SLOW_CONSUMER_CHECK_MS = 1000;

/**
 * Closes clients that do not read fast enough, with a close frame they see once they catch up.
 *
 * uWebSockets.js fans out in native code and bounds each queue at MAX_BACKPRESSURE_BYTES:
 * a socket that reaches it is cut at once, without a close frame (clients see 1006), because
 * a frame queued behind the backlog could never be read in time. This check closes a client
 * cleanly (4008) once its queue passes half that bound, so a client that falls behind
 * gradually learns why; only a burst of more than half the bound within one check interval
 * still ends in the cut. Either way, one slow client never holds up the others.
 */
export function watchSlowConsumers(sockets: OpenSockets, maxBackpressureBytes: number, guard: MessageGuard, log: Logger): void {
  const threshold = Math.floor(maxBackpressureBytes / 2);
  const timer = setInterval(() => {
    let total = 0;
    let largest = 0;
    for (const ws of sockets) {
      // One socket at a time: a socket uWS refuses to touch costs only its own check, not the
      // check of every other socket nor the timer (an exception here would end the process).
      try {
        const queued = ws.getBufferedAmount();
        total += queued;
        if (queued > largest) largest = queued;
        if (queued > threshold) {
          socketStats.slowConsumers++;
          log.warn({ queuedBytes: queued, thresholdBytes: threshold }, 'slow consumer disconnected');
          ws.end(CLOSE_SLOW_CONSUMER.code, CLOSE_SLOW_CONSUMER.reason);
        }
      } catch (error) {
        guard.drop('timer', 'failed', error);
      }
    }
    socketStats.queuedBytes = total;
    socketStats.largestQueueBytes = largest;
  }, SLOW_CONSUMER_CHECK_MS);
  timer.unref();
}
