import { Emitter } from '../events/emitter.js';

/** A participant's state: any JSON object your app defines. */
export type State = Record<string, unknown>;

export interface ParticipantEvents<S extends State> {
  /** The participant's state changed (an update, or its state as found when resyncing). */
  state: (state: S | undefined, previous: S | undefined) => void;
}

/** Someone in a presence channel, keyed by their full `identity/device/route` address. */
export class Participant<S extends State = State> extends Emitter<ParticipantEvents<S>> {
  protected currentAddress: string;
  protected currentState: S | undefined;
  /** When the participant joined (ms since epoch), as the gateway recorded it; undefined if it did not say. */
  readonly joinedAt: number | undefined;

  constructor(address: string, state: S | undefined, joinedAt?: number) {
    super();
    this.currentAddress = address;
    this.currentState = state;
    this.joinedAt = joinedAt;
  }

  /** `identity/device/route`: send to it to reach exactly this connection. */
  get address(): string {
    return this.currentAddress;
  }

  get identity(): string {
    return this.currentAddress.split('/')[0] ?? '';
  }

  get device(): string {
    return this.currentAddress.split('/')[1] ?? '';
  }

  get state(): S | undefined {
    return this.currentState;
  }

  /** @internal Applies a state the channel received; emits `state` when it differs. */
  setState(state: S | undefined): void {
    if (sameJson(state, this.currentState)) return;
    const previous = this.currentState;
    this.currentState = state;
    this.emit('state', state, previous);
  }
}

/** Deep equality for JSON values, so a resync that finds the same state emits nothing. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
