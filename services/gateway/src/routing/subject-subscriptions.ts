import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Scope } from '@signal/core';
import type { MessageGuard } from '@signal/operations';
import type { Surface } from '../core/surface.js';

export interface SubjectEntry {
  readonly subject: string;
  readonly scope: Scope;
  /** Local sockets per surface subscribed to this subject's uWS topic. */
  readonly surfaces: Map<Surface, number>;
  subscription: Subscription;
}

export type SubjectHandler = (entry: SubjectEntry, msg: Msg) => void;

/**
 * One NATS subscription per subject that has at least one local socket, reference-counted
 * per surface so a message is rendered once for each surface that has listeners here.
 */
export class SubjectSubscriptions {
  private readonly entries = new Map<string, SubjectEntry>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly onMessage: SubjectHandler,
    private readonly guard: MessageGuard,
  ) {}

  acquire(subject: string, scope: Scope, surface: Surface): void {
    let entry = this.entries.get(subject);
    if (!entry) {
      const surfaces = new Map<Surface, number>();
      const created: SubjectEntry = { subject, scope, surfaces, subscription: undefined as unknown as Subscription };
      created.subscription = this.nc.subscribe(subject, {
        // Guarded: an exception here would end the connection's read loop (see MessageGuard).
        callback: this.guard.wrap('subject', (error: Error | null, msg: Msg) => {
          if (!error) this.onMessage(created, msg);
        }),
      });
      this.entries.set(subject, created);
      entry = created;
    }
    entry.surfaces.set(surface, (entry.surfaces.get(surface) ?? 0) + 1);
  }

  release(subject: string, surface: Surface): void {
    const entry = this.entries.get(subject);
    if (!entry) return;
    const left = (entry.surfaces.get(surface) ?? 0) - 1;
    if (left > 0) {
      entry.surfaces.set(surface, left);
      return;
    }
    entry.surfaces.delete(surface);
    if (entry.surfaces.size === 0) {
      entry.subscription.unsubscribe();
      this.entries.delete(subject);
    }
  }

  get(subject: string): SubjectEntry | undefined {
    return this.entries.get(subject);
  }

  get size(): number {
    return this.entries.size;
  }
}
