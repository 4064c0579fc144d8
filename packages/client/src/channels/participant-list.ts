import { Participant, type State } from './participant.js';

/** Bit6's participant ops: 1 added, 0 joined again while known, -1 left. */
export type ParticipantOp = 1 | 0 | -1;

export interface ParticipantChange<S extends State> {
  participant: Participant<S>;
  op: ParticipantOp;
}

/**
 * The participants of one presence channel. Every method returns the changes to announce,
 * so the channel emits them after the list is consistent.
 */
export class ParticipantList<S extends State> {
  readonly map = new Map<string, Participant<S>>();

  /** A `signal.join` (others' join) or `signal.join_back` (those already there, to us). */
  join(address: string, state: S | undefined, repeated: 'announce' | 'silent', joinedAt?: number): ParticipantChange<S>[] {
    const known = this.map.get(address);
    if (known) {
      if (state !== undefined) known.setState(state);
      return repeated === 'announce' ? [{ participant: known, op: 0 }] : [];
    }
    const participant = new Participant<S>(address, state, joinedAt);
    this.map.set(address, participant);
    return [{ participant, op: 1 }];
  }

  leave(address: string): ParticipantChange<S>[] {
    const known = this.map.get(address);
    if (!known) return [];
    this.map.delete(address);
    return [{ participant: known, op: -1 }];
  }

  /** A state update from a participant; unknown senders are ignored (they have left, or not joined yet). */
  state(address: string, state: S | undefined): void {
    this.map.get(address)?.setState(state);
  }

  /**
   * Replaces the list with a snapshot from a join result: those gone leave, newcomers are
   * added, and those still there keep their object (and emit `state` if their state changed).
   */
  sync(snapshot: ReadonlyArray<{ address: string; state: S | undefined; joinedAt?: number | undefined }>): ParticipantChange<S>[] {
    const present = new Map(snapshot.map((p) => [p.address, p]));
    const changes: ParticipantChange<S>[] = [];
    for (const address of [...this.map.keys()]) {
      if (!present.has(address)) changes.push(...this.leave(address));
    }
    for (const { address, state, joinedAt } of present.values()) {
      const known = this.map.get(address);
      if (known) known.setState(state);
      else changes.push(...this.join(address, state, 'silent', joinedAt));
    }
    return changes;
  }

  clear(): void {
    this.map.clear();
  }
}
