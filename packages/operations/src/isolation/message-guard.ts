import type { Logger } from 'pino';

/** `invalid`: the message is not what the subject carries; `failed`: handling it threw. */
export type DropReason = 'invalid' | 'failed';

export interface MessageGuardOptions {
  log: Logger;
  /** Counts one dropped message (the service's dropped-messages metric). */
  count: (source: string, reason: DropReason) => void;
  /** At most one warn line per source this often; the line says how many were dropped since the last. */
  logEveryMs?: number;
  now?: () => number;
}

interface SourceLog {
  lastLineAt: number;
  droppedSince: number;
}

const DEFAULT_LOG_EVERY_MS = 10_000;

/**
 * The one place where an exception from handling a message stops: the message is dropped,
 * counted and logged (rate-limited), and the reader goes on with the next one.
 *
 * Every NATS subscription callback and async iterator body must go through it. In nats.js v3
 * (@nats-io/nats-core 3.4, `ProtocolHandler.processMsg`) a subscription callback runs
 * synchronously inside the parser of the connection's single read loop (`dial()`:
 * `for await (const b of this.transport) this.parser.parse(b)`); an exception thrown by any
 * callback leaves that loop (its catch only prints "reader closed") while the socket stays
 * open and the client still reports itself connected. From then on the connection reads
 * nothing, for every subscription, until its ping check (pingInterval × maxPingOut) declares
 * it stale and reconnects. For an async iterator (`for await` over a subscription or KV
 * watch) an exception ends our loop and with it the watch.
 */
export class MessageGuard {
  private readonly logs = new Map<string, SourceLog>();
  private readonly logEveryMs: number;
  private readonly now: () => number;

  constructor(private readonly options: MessageGuardOptions) {
    this.logEveryMs = options.logEveryMs ?? DEFAULT_LOG_EVERY_MS;
    this.now = options.now ?? (() => performance.now());
  }

  /** The handler, made safe to give to a subscription, watch or timer. */
  wrap<A = void, B = void>(source: string, handler: (a: A, b: B) => void): (a: A, b: B) => void {
    // Two fixed parameters (a NATS callback's error and message, a watch entry): no rest array per call.
    return (a: A, b: B) => {
      try {
        handler(a, b);
      } catch (error) {
        this.drop(source, 'failed', error);
      }
    };
  }

  /**
   * Runs one part of handling a message (e.g. rendering it for one surface), so its failure
   * does not stop the other parts. Returns whether it completed.
   */
  run(source: string, work: () => void): boolean {
    try {
      work();
      return true;
    } catch (error) {
      this.drop(source, 'failed', error);
      return false;
    }
  }

  /** Drops a message found unusable (or whose handling failed): counted, and logged at most once per interval per source. */
  drop(source: string, reason: DropReason, error?: unknown): void {
    this.options.count(source, reason);
    const now = this.now();
    let entry = this.logs.get(source);
    if (!entry) {
      entry = { lastLineAt: -Infinity, droppedSince: 0 };
      this.logs.set(source, entry);
    }
    entry.droppedSince++;
    if (now - entry.lastLineAt < this.logEveryMs) return;
    const dropped = entry.droppedSince;
    entry.lastLineAt = now;
    entry.droppedSince = 0;
    this.options.log.warn(
      { source, reason, dropped, error: error === undefined ? undefined : describe(error) },
      `dropped ${dropped} NATS message(s) from ${source} that could not be handled; at most one such line per ${this.logEveryMs / 1000} s`,
    );
  }
}

/** Name and message only: the error may come from a hostile payload (a huge stack, a nested cause). */
function describe(error: unknown): { name: string; message: string } {
  try {
    if (error instanceof Error) return { name: String(error.name), message: String(error.message).slice(0, 200) };
    return { name: typeof error, message: String(error).slice(0, 200) };
  } catch {
    // Even describing it failed (a thrown object whose toString throws): the guard must not.
    return { name: typeof error, message: 'unprintable' };
  }
}
