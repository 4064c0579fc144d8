import { SignalClientError } from '../errors/signal-client-error.js';
import type { RpcId } from './server-frames.js';

interface Pending {
  method: string;
  resolve(result: unknown): void;
  reject(error: SignalClientError): void;
  timer: ReturnType<typeof setTimeout>;
}

/** Requests sent on the current connection and waiting for their response. */
export class PendingRequests {
  private nextId = 1;
  private readonly pending = new Map<RpcId, Pending>();

  constructor(private readonly timeoutMs: number) {}

  /** Registers a request; returns its id and a promise for its result. */
  open(method: string): { id: number; result: Promise<unknown> } {
    const id = this.nextId++;
    const result = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SignalClientError('timeout', `the gateway did not answer ${method} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { method, resolve, reject, timer });
    });
    return { id, result };
  }

  /** Settles the request a response is for; false when no request has that id. */
  settle(id: RpcId, outcome: { result: unknown } | { error: SignalClientError }): boolean {
    const entry = this.pending.get(id);
    if (!entry) return false;
    this.pending.delete(id);
    clearTimeout(entry.timer);
    if ('error' in outcome) entry.reject(outcome.error);
    else entry.resolve(outcome.result);
    return true;
  }

  /** Fails every waiting request, e.g. when the connection they were sent on is gone. */
  failAll(error: (method: string) => SignalClientError): void {
    for (const [id, entry] of this.pending) {
      this.pending.delete(id);
      clearTimeout(entry.timer);
      entry.reject(error(entry.method));
    }
  }
}
