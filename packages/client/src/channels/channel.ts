import { TokenSource } from '../auth/token-source.js';
import { SignalClientError } from '../errors/signal-client-error.js';
import { Emitter } from '../events/emitter.js';
import type { Incoming, Payload, SendOptions } from '../messages.js';
import type { Outbox } from '../outbox/outbox.js';
import { occupancyParams, positionOf, presenceParams, readJoinResult, readParams, type JoinAnswer, type JoinedParticipant, type Occupancy, type Position } from '../rpc/server-frames.js';
import type { ChannelHost } from './channel-host.js';
import { Participant, type State } from './participant.js';
import { ParticipantList, type ParticipantChange, type ParticipantOp } from './participant-list.js';

export interface JoinOptions<S extends State = State> {
  /** Track who is in the channel: `participants`, `participant` events, states. */
  presence?: boolean;
  /** Your initial participant state (with presence). */
  state?: S;
  /**
   * Follow the channel's occupancy, cluster-wide: `channel.occupancy` and `occupancy` events,
   * at most one per second, only when the counts changed.
   */
  occupancy?: boolean;
  /**
   * A channel token for this channel (from your backend, which mints it with
   * POST /v1/channel-tokens), or a function that fetches one. With a function, the client asks
   * it again ahead of the token's expiry and joins again with the fresh one, like user tokens.
   */
  token?: string | ChannelTokenProvider;
}

/** Returns a fresh channel token for a channel, e.g. by asking your backend. */
export type ChannelTokenProvider = (channel: string) => string | Promise<string>;

export interface ChannelEvents<M extends Payload, S extends State> {
  /** A channel message (`publish`) or a direct message scoped to this channel. */
  message: (message: Incoming<M>) => void;
  /** Someone joined (op 1), joined again while known (op 0) or left (op -1). */
  participant: (participant: Participant<S>, op: ParticipantOp) => void;
  /** The channel's occupancy changed (with `{ occupancy: true }`); at most one per second. */
  occupancy: (occupancy: Occupancy) => void;
  /** The channel could not be (re)joined, or a message to it failed with nobody waiting for the answer. */
  error: (error: SignalClientError) => void;
  /**
   * Channels that keep history (docs/recovery.md), after every rejoin: `recovered: true` when
   * every message missed while away came (as `message` events) before this event;
   * `recovered: false` when some may be lost, so resynchronise the channel (e.g. from your
   * backend, or GET /v1/channels/:channel/history). Presence is resynced either way.
   */
  recovery: (outcome: RecoveryOutcome) => void;
}

/**
 * Why a channel could not be recovered: `window` (more was missed, or for longer, than the
 * channel keeps), `epoch` (its history was lost, e.g. the stream was recreated), `busy` (too
 * much arrived during the recovery), `unavailable` (the history could not be read just then),
 * `no_history` (the channel no longer keeps history).
 */
export type RecoveryOutcome = { recovered: true } | { recovered: false; reason: 'window' | 'epoch' | 'busy' | 'unavailable' | 'no_history' | (string & {}) };

type Status = 'waiting' | 'joining' | 'joined' | 'left';

/** Addresses of earlier connections remembered for recoveries. */
const OWN_ADDRESSES_KEPT = 8;

/** You, as a participant of a channel. */
export class LocalParticipant<S extends State = State> extends Participant<S> {
  /** @internal */
  constructor(
    state: S | undefined,
    private readonly channel: { sendState(ack: boolean): Promise<void> | undefined },
  ) {
    super('', state);
  }

  /**
   * Replaces your state and tells the channel. While the channel is (re)joining, the state
   * goes with the join. With `{ ack: true }` the promise settles once the gateway has it.
   */
  updateState(state: S): void;
  updateState(state: S, options: { ack: true }): Promise<void>;
  updateState(state: S, options?: SendOptions): Promise<void> | undefined;
  updateState(state: S, options: SendOptions = {}): Promise<void> | undefined {
    this.setState(state);
    return this.channel.sendState(options.ack === true);
  }

  /** @internal The connection's address changed (a reconnect). */
  setAddress(address: string): void {
    this.currentAddress = address;
  }
}

/**
 * A joined channel. It stays in `signal.channels` across reconnects: the client rejoins it on
 * every new connection and resyncs its participants, announcing only what changed meanwhile.
 */
export class Channel<M extends Payload = Payload, S extends State = State> extends Emitter<ChannelEvents<M, S>> {
  readonly name: string;
  readonly presence: boolean;
  /** Whether it follows the channel's occupancy. */
  readonly followsOccupancy: boolean;
  readonly me: LocalParticipant<S>;
  /** Resolves once joined, with the participants (empty without presence); rejects if the join fails. */
  readonly joined: Promise<Participant<S>[]>;

  private status: Status = 'waiting';
  private everJoined = false;
  private readonly list = new ParticipantList<S>();
  private readonly pending: Outbox;
  /** Bumped on every (re)join and loss, so answers meant for an older connection are ignored. */
  private epoch = 0;
  /** Presence events that arrived before the join's answer: applied on top of its snapshot. */
  private early: Array<() => ParticipantChange<S>[]> = [];
  private stateSentWithJoin: S | undefined;
  private joinWaiters: Array<{ resolve(): void; reject(error: SignalClientError): void }> = [];
  private settleJoined!: { resolve(list: Participant<S>[]): void; reject(error: SignalClientError): void };
  private readonly tokens: TokenSource | undefined;
  private currentOccupancy: Occupancy | undefined;
  /** Where this client stands in the channel's history (when it keeps one): the last message seen, or the last join. */
  private current: Position | undefined;
  /** Every address this client had in the channel: recovered messages it sent itself are not given back to it. */
  private readonly ownAddresses = new Set<string>();

  /** @internal Created by `signal.join()`. */
  constructor(
    name: string,
    options: JoinOptions<S>,
    private readonly host: ChannelHost,
  ) {
    super();
    this.name = name;
    this.presence = options.presence === true;
    this.followsOccupancy = options.occupancy === true;
    this.me = new LocalParticipant<S>(options.state, this);
    this.pending = host.outbox(`channel '${name}' to be joined`);
    this.joined = new Promise((resolve, reject) => {
      this.settleJoined = { resolve, reject };
    });
    // Callers may ignore `joined` (Bit6 apps do); failures also reach the 'error' event.
    this.joined.catch(() => undefined);
    const token = options.token;
    this.tokens =
      token === undefined
        ? undefined
        : new TokenSource(typeof token === 'function' ? () => token(name) : token, {
            onRefreshError: (error) => this.host.report(error, this),
            onExpiring: () => undefined,
            onRenewed: (fresh) => this.renew(fresh),
          });
  }

  /** Everyone else in the channel, by address (with presence). */
  get participants(): ReadonlyMap<string, Participant<S>> {
    return this.list.map;
  }

  /** The channel's last known occupancy (with `{ occupancy: true }`, once joined). */
  get occupancy(): Occupancy | undefined {
    return this.currentOccupancy;
  }

  /** The channel's history position this client has reached (channels that keep history only); rejoins recover from it. */
  get position(): Position | undefined {
    return this.current;
  }

  /** True while the channel is joined on the current connection. */
  get isJoined(): boolean {
    return this.status === 'joined';
  }

  /**
   * Publishes to every other member. Sent at once when joined; while (re)joining it waits,
   * up to `queueLimit` messages. With `{ ack: true }` the promise settles with the gateway's answer.
   */
  publish(message: M): void;
  publish(message: M, options: { ack: true }): Promise<void>;
  publish(message: M, options?: SendOptions): Promise<void> | undefined;
  publish(message: M, options: SendOptions = {}): Promise<void> | undefined {
    const ack = options.ack === true;
    if (this.status === 'left') return refuse(ack, this.leftError());
    return this.host.dispatch('signal.publish', { ...message, id: this.name }, ack, this.status === 'joined', this.pending);
  }

  /** Leaves the channel; resolves once the gateway confirms (at once when offline). */
  async leave(): Promise<void> {
    if (this.status === 'left') return;
    const wasSent = this.status === 'joining' || this.status === 'joined';
    this.end(new SignalClientError('not_joined', `channel '${this.name}' was left`));
    if (!wasSent) return;
    try {
      await this.host.request('signal.leave', { id: this.name });
    } catch (error) {
      // A connection that dropped took the membership with it.
      if ((error as SignalClientError).code !== 'disconnected') throw error;
    }
  }

  /** @internal A connection is up: (re)join. Resolves once this join attempt is settled. */
  async attach(): Promise<void> {
    if (this.status === 'left') return;
    const epoch = ++this.epoch;
    this.status = 'joining';
    this.early = [];
    this.me.setAddress(this.host.address() ?? '');
    this.ownAddresses.add(this.host.address() ?? '');
    // The last few are enough: older connections' messages are past any history window.
    if (this.ownAddresses.size > OWN_ADDRESSES_KEPT) this.ownAddresses.delete(this.ownAddresses.values().next().value!);
    this.stateSentWithJoin = this.me.state;
    const params: Record<string, unknown> = { id: this.name };
    // The result carries the full list: no `signal.join_back` frame per participant (a gateway
    // that predates `joinBack` sends them anyway, and they change nothing after the result).
    if (this.presence) Object.assign(params, { presence: true, joinBack: false });
    if (this.followsOccupancy) params.occupancy = true;
    const since = this.current;
    if (since !== undefined) params.since = since;
    if (this.presence && this.me.state !== undefined) params.state = this.me.state;
    let result: unknown;
    try {
      if (this.tokens) params.token = await this.tokens.token();
      if (epoch !== this.epoch) return;
      result = await this.host.request('signal.join', params);
    } catch (error) {
      const failure = error as SignalClientError;
      // A dropped connection is retried on the next one; anything else ends the channel.
      if (epoch === this.epoch && failure.code !== 'disconnected') this.fail(failure);
      return;
    }
    if (epoch !== this.epoch) return;
    let answer: JoinAnswer;
    try {
      answer = readJoinResult(result);
    } catch (error) {
      return this.fail(error as SignalClientError);
    }
    this.advance(answer.position);
    this.joinedWith(answer.participants);
    if (this.followsOccupancy && answer.occupancy) this.setOccupancy(answer.occupancy);
    if (since !== undefined) this.emit('recovery', outcomeOf(answer));
  }

  /** Moves the position on: a later offset, or any offset of a new epoch (the old history is gone). */
  private advance(position: Position | undefined): void {
    if (position === undefined) return;
    if (this.current === undefined || this.current.epoch !== position.epoch || this.current.offset < position.offset) this.current = position;
  }

  /** A fresh channel token while joined: joining again with it renews the grant (the gateway announces nothing). */
  private renew(token: string): void {
    if (this.status !== 'joined') return;
    const params: Record<string, unknown> = { id: this.name, token };
    if (this.presence) params.presence = true;
    this.host.request('signal.join', params).catch((error: unknown) => {
      const failure = error as SignalClientError;
      if (failure.code !== 'disconnected') this.host.report(failure, this);
    });
  }

  /** @internal The connection is gone; wait for the next one. */
  detach(): void {
    if (this.status === 'left') return;
    this.epoch++;
    this.status = 'waiting';
    this.early = [];
  }

  /** @internal A notification for this channel. */
  receive(method: string, params: Record<string, unknown>): void {
    if (this.status !== 'joined' && this.status !== 'joining') return;
    switch (method) {
      case 'signal.publish':
      case 'signal.send':
        return this.receiveMessage(params);
      case 'signal.join':
      case 'signal.join_back':
      case 'signal.leave':
        if (this.presence) this.receivePresence(method, params);
        return;
      case 'signal.occupancy':
        if (this.followsOccupancy) this.setOccupancy(readParams(occupancyParams, method, params));
        return;
    }
  }

  /** @internal Used by `me.updateState()`. */
  sendState(ack: boolean): Promise<void> | undefined {
    if (this.status === 'left') return refuse(ack, this.leftError());
    if (!this.presence) {
      return refuse(ack, new SignalClientError('invalid_params', `channel '${this.name}' was joined without presence; join with { presence: true } to have a state`));
    }
    if (this.status === 'joined') return this.host.dispatch('signal.publish', { id: this.name, state: this.me.state }, ack, true, this.pending);
    // Not joined yet: the state goes with the join, or right after it if the join is already on its way.
    if (!ack) return undefined;
    return new Promise<void>((resolve, reject) => this.joinWaiters.push({ resolve, reject }));
  }

  private receiveMessage(params: Record<string, unknown>): void {
    const from = typeof params.from === 'string' ? params.from : undefined;
    if (this.presence && 'state' in params && from !== undefined) {
      if (this.host.isOwnAddress(from)) return;
      const apply = () => {
        this.list.state(from, params.state as S | undefined);
        return [];
      };
      if (this.status === 'joining') this.early.push(apply);
      else apply();
      return;
    }
    const position = positionOf(params);
    if (position !== undefined) {
      this.advance(position);
      // Recovered messages this client sent from an earlier connection: it has them already.
      if (from !== undefined && this.ownAddresses.has(from)) return;
    }
    this.emit('message', params as Incoming<M>);
  }

  private receivePresence(method: 'signal.join' | 'signal.join_back' | 'signal.leave', raw: Record<string, unknown>): void {
    const params = readParams(presenceParams, method, raw);
    if (this.host.isOwnAddress(params.from)) return;
    const state = params.state as S | undefined;
    const apply = (): ParticipantChange<S>[] =>
      method === 'signal.leave'
        ? this.list.leave(params.from)
        : this.list.join(params.from, state, method === 'signal.join' ? 'announce' : 'silent', params.joinedAt);
    if (this.status === 'joining') this.early.push(apply);
    else this.announce(apply());
  }

  private joinedWith(snapshot: JoinedParticipant[] | undefined): void {
    const changes: ParticipantChange<S>[] = [];
    if (this.presence && snapshot !== undefined) {
      const others = snapshot.filter((p) => !this.host.isOwnAddress(p.address));
      changes.push(...this.list.sync(others as Array<JoinedParticipant & { state: S | undefined }>));
    }
    for (const apply of this.early.splice(0)) changes.push(...apply());
    this.status = 'joined';
    this.announce(changes);
    if (!this.everJoined) {
      this.everJoined = true;
      this.settleJoined.resolve([...this.list.map.values()]);
    }
    this.host.flush(this.pending);
    if (this.presence && this.me.state !== this.stateSentWithJoin) {
      this.host.dispatch('signal.publish', { id: this.name, state: this.me.state }, true, true, this.pending)!.catch((error: unknown) =>
        this.host.report(error as SignalClientError, this),
      );
    }
    for (const waiter of this.joinWaiters.splice(0)) waiter.resolve();
  }

  /** Announced only when it changed (a rejoin's result may repeat what is known). */
  private setOccupancy(next: Occupancy): void {
    const known = this.currentOccupancy;
    if (known && known.connections === next.connections && known.participants === next.participants) return;
    this.currentOccupancy = { connections: next.connections, participants: next.participants };
    this.emit('occupancy', this.currentOccupancy);
  }

  private announce(changes: ParticipantChange<S>[]): void {
    for (const { participant, op } of changes) this.emit('participant', participant, op);
  }

  private fail(error: SignalClientError): void {
    const wrapped = new SignalClientError(error.code, `could not join channel '${this.name}': ${error.message}`, {
      rpcCode: error.rpcCode,
      field: error.field,
      data: error.data,
      cause: error,
    });
    this.end(wrapped);
    this.host.report(wrapped, this);
  }

  /** @internal Leaves for good: out of `signal.channels`, queued messages and waiters refused. */
  end(error: SignalClientError): void {
    if (this.status === 'left') return;
    this.status = 'left';
    this.epoch++;
    this.tokens?.stop();
    this.host.forget(this.name);
    this.list.clear();
    this.early = [];
    if (!this.everJoined) this.settleJoined.reject(error);
    for (const waiter of this.joinWaiters.splice(0)) waiter.reject(error);
    let unsent = 0;
    for (const item of this.pending.drain()) {
      if (item.ack) item.ack.reject(error);
      else unsent++;
    }
    if (unsent > 0) {
      this.host.report(new SignalClientError(error.code, `${unsent} message(s) queued for channel '${this.name}' were not sent: ${error.message}`), this);
    }
  }

  private leftError(): SignalClientError {
    return new SignalClientError('not_joined', `channel '${this.name}' was left; join it again to use it`);
  }
}

function outcomeOf(answer: JoinAnswer): RecoveryOutcome {
  if (answer.recovered === true) return { recovered: true };
  if (answer.recovered === undefined) return { recovered: false, reason: 'no_history' };
  return { recovered: false, reason: answer.reason ?? 'window' };
}

function refuse(ack: boolean, error: SignalClientError): Promise<void> | undefined {
  if (ack) return Promise.reject(error);
  throw error;
}
