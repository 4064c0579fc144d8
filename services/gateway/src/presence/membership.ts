import type { ParticipantValue } from '@signal/presence';

/**
 * One connection's participation in one presence channel. Everything done to it (join,
 * state updates, the connection's publishes to the channel, leave, close) runs one after the
 * other in the order the client asked, even though each waits on the store: a publish made
 * right after a join goes out after the join event, a leave after the state update before it.
 */
export class Membership {
  status: 'joining' | 'present' | 'gone' = 'gone';
  /** Set once the entry is written. */
  key: string | undefined;
  revision = 0;
  value: ParticipantValue | undefined;
  /** Whether this membership holds a reference on the channel view. */
  holdsView = false;
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;

  /** `onIdle` runs when nothing is queued any more and the membership is gone. */
  constructor(private readonly onIdle: (membership: Membership) => void) {}

  run<T>(op: () => Promise<T> | T): Promise<T> {
    this.pending++;
    const result = this.tail.then(op);
    const done = () => {
      if (--this.pending === 0 && this.status === 'gone') this.onIdle(this);
    };
    this.tail = result.then(done, done);
    return result;
  }

  /** Resolves once everything queued so far has run. */
  settled(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
