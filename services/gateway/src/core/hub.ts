import { randomBytes } from 'node:crypto';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import {
  SignalError,
  broadcastSubject,
  decodeControl,
  channelSubject,
  connectionSubject,
  decodeEnvelope,
  deviceSubject,
  encodeEnvelope,
  formatAddress,
  nodeConnectionsWildcard,
  nodeOfRoute,
  parseConnectionSubject,
  userSubject,
  type Address,
  type ControlCommand,
  type Envelope,
  type Fields,
  type Scope,
  type SendEnvelope,
} from '@signal/core';
import type { HistoryStore } from '@signal/history';
import { assertNatsConnected, isNoResponders, type MessageGuard } from '@signal/operations';
import type { TemplatedApp } from 'uWebSockets.js';
import { assertMay, assertMayMessage, assertMaySend, type PresenceEventRule } from '../auth/permissions.js';
import { FANOUT_SAMPLE_EVERY, metrics } from '../metrics/gateway-metrics.js';
import { SubjectSubscriptions, type SubjectEntry } from '../routing/subject-subscriptions.js';
import { presenceTopicFor, topicFor } from '../routing/topics.js';
import type { Session, TokenStamp } from './session.js';
import { SessionIndex } from './session-index.js';
import { framesOf } from './surface.js';
import type { ClientMessageLog } from '../webhooks/client-message-log.js';

const DELIVERED = new TextEncoder().encode('{"ok":true}');
const NOT_HERE = new TextEncoder().encode('{"ok":false}');
const REQUEST_TIMEOUT_MS = 2000;
/** Live messages held back for one recovering session at most; past it the recovery reports a gap. */
const HOLD_LIMIT = 10_000;

/**
 * Sees every envelope before local delivery and returns what to deliver instead, or
 * undefined to drop it (presence uses this to put events from many publishers in order).
 */
export type EnvelopeFilter = (scope: Scope, envelope: Envelope) => Envelope | undefined;

/** Handles a command for gateways (a backend's disconnect) that came on `subject` (core/forced-closes.ts). */
export type ControlHandler = (scope: Scope, subject: string, command: ControlCommand) => void;

/** Told of every change of a session's channel memberships (occupancy counts them). */
export interface MembershipListener {
  joined(session: Session, channel: string): void;
  /** The session became a presence participant of a channel it joined. */
  present(session: Session, channel: string): void;
  left(session: Session, channel: string): void;
}

export interface HubStats {
  sessions: number;
  subjects: number;
  messagesIn: number;
  messagesOut: number;
  bytesOut: number;
  invalidEnvelopes: number;
}

export interface SessionListener {
  opened(session: Session): void;
  closed(session: Session): void;
}

/**
 * The node's shared core: every surface turns its frames into calls on the hub, and the hub
 * turns NATS traffic into uWS topic publishes. It holds no state another node needs.
 */
export class Hub {
  private readonly sessions = new Map<string, Session>();
  /** Sessions by user and by token id, for revocations and disconnects. */
  readonly index = new SessionIndex();
  private onControl: ControlHandler = () => undefined;
  private sessionListener: SessionListener | undefined;
  private readonly subjects: SubjectSubscriptions;
  private seq = 0;
  private filter: EnvelopeFilter | undefined;
  private members: MembershipListener | undefined;
  private history: HistoryStore | undefined;
  private clientMessages: ClientMessageLog | undefined;
  /**
   * Messages held back, per subject, for sessions whose recovery is being read (a channel's:
   * history/history-join.ts; a connection's direct messages: history/direct-recovery.ts):
   * delivered after the missed ones, without those already among them. A connection's user
   * and device subjects share one list, so it keeps their arrival (stream) order.
   */
  private readonly held = new Map<string, Map<Session, Envelope[]>>();
  private isPresenceEvent: PresenceEventRule = (_scope, envelope) => envelope.t === 'join' || envelope.t === 'leave';
  readonly stats: HubStats = { sessions: 0, subjects: 0, messagesIn: 0, messagesOut: 0, bytesOut: 0, invalidEnvelopes: 0 };

  /**
   * `guard` isolates every NATS message: one that cannot be decoded, filtered or rendered is
   * dropped and counted, and the next message is handled as usual.
   */
  constructor(
    private readonly nc: NatsConnection,
    private readonly app: TemplatedApp,
    readonly node: string,
    private readonly guard: MessageGuard,
  ) {
    this.subjects = new SubjectSubscriptions(nc, (entry, msg) => this.fanOut(entry, msg), guard);
    nc.subscribe(nodeConnectionsWildcard(node), {
      callback: guard.wrap('connection', (error: Error | null, msg: Msg) => {
        if (!error) this.deliverToConnection(msg);
      }),
    });
  }

  setEnvelopeFilter(filter: EnvelopeFilter): void {
    this.filter = filter;
  }

  setMembershipListener(listener: MembershipListener): void {
    this.members = listener;
  }

  /** Client publishes on channels whose namespace asks for `client_message` webhooks are stored through it first. */
  setClientMessages(log: ClientMessageLog): void {
    this.clientMessages = log;
  }

  /** Channels that keep history are stored through it, and their live messages get their position from it. */
  setHistory(history: HistoryStore): void {
    this.history = history;
  }

  /** Told of every session opened and closed on this node (presence/online-users.ts). */
  setSessionListener(listener: SessionListener): void {
    this.sessionListener = listener;
  }

  /** Who handles commands for gateways arriving on users', devices' and connections' subjects. */
  setControlHandler(handler: ControlHandler): void {
    this.onControl = handler;
  }

  /** This node's open session with that route, if any. */
  session(route: string): Session | undefined {
    return this.sessions.get(route);
  }

  /** The session's token was replaced with `signal.auth`: revocations now match the new one. */
  retoken(session: Session, token: TokenStamp | undefined): void {
    if (token !== undefined) this.index.retoken(session, token);
  }

  /** Which envelopes only presence members get (auth/permissions.ts); joins and leaves until set. */
  setPresenceEventRule(rule: PresenceEventRule): void {
    this.isPresenceEvent = rule;
  }

  /**
   * `<node>-<counter><random>`: the counter keeps routes unique on this node, the random part
   * keeps them unguessable, so nobody can aim at a connection whose address they were not given.
   */
  nextRoute(): string {
    return `${this.node}-${(++this.seq).toString(36)}${randomBytes(4).readUInt32BE(0).toString(36).padStart(7, '0')}`;
  }

  /**
   * Called once the socket is open: the session starts receiving its user, device and
   * broadcast traffic. With `holdDirect` its user's and device's messages are held back until
   * `releaseHeldDirect`, while the direct messages it missed are read.
   */
  open(session: Session, holdDirect = false): void {
    this.sessions.set(session.route, session);
    this.index.add(session);
    this.sessionListener?.opened(session);
    this.stats.sessions = this.sessions.size;
    const [broadcast, ...direct] = this.personalSubjects(session);
    this.subscribe(session, broadcast!);
    if (!holdDirect || direct.length === 0) {
      for (const subject of direct) this.subscribe(session, subject);
      return;
    }
    const list: Envelope[] = [];
    for (const subject of direct) {
      this.subjects.acquire(subject, session.scope, session.surface);
      this.hold(subject, session, list);
    }
    this.stats.subjects = this.subjects.size;
  }

  /** Every open session of this node, as a copy: closing one while going through them is safe. */
  openSessions(): Session[] {
    return [...this.sessions.values()];
  }

  /** Called when the socket has closed (uWS has already dropped its topics). */
  close(session: Session): void {
    for (const channel of session.channels) {
      const subject = channelSubject(session.scope, channel);
      if (this.held.size > 0) this.stopHolding(subject, session);
      this.subjects.release(subject, session.surface);
      this.members?.left(session, channel);
    }
    session.channels.clear();
    for (const subject of this.personalSubjects(session)) {
      if (this.held.size > 0) this.stopHolding(subject, session);
      this.subjects.release(subject, session.surface);
    }
    this.sessions.delete(session.route);
    this.index.remove(session);
    this.sessionListener?.closed(session);
    this.stats.sessions = this.sessions.size;
    this.stats.subjects = this.subjects.size;
  }

  /** Joins a channel the session may subscribe to (auth/permissions.ts); false when already joined. */
  join(session: Session, channel: string): boolean {
    return this.addChannel(session, channel, true);
  }

  /**
   * Joins like `join`, but the session's live messages of the channel are held back until
   * `releaseHeld`: a recovery reads what was missed meanwhile, and that goes first.
   */
  joinHeld(session: Session, channel: string): boolean {
    if (!this.addChannel(session, channel, false)) return false;
    this.hold(channelSubject(session.scope, channel), session, []);
    return true;
  }

  private hold(subject: string, session: Session, list: Envelope[]): void {
    let holding = this.held.get(subject);
    if (!holding) this.held.set(subject, (holding = new Map()));
    holding.set(session, list);
  }

  /**
   * Delivers `first` (the recovered messages, in order), then what was held back except what
   * `first` already had (an offset at or before its last), then subscribes the session to the
   * channel's live traffic. One synchronous step, so no live message falls between. False
   * when more than HOLD_LIMIT messages came meanwhile: those were dropped, a gap.
   */
  releaseHeld(session: Session, channel: string, first: readonly Envelope[]): boolean {
    return this.release(session, [channelSubject(session.scope, channel)], first, () => []);
  }

  /**
   * As `releaseHeld`, for the user and device subjects `open` held back; the frames `after`
   * makes (telling the client how its recovery went: whether it was complete) go right after
   * the held messages, before any live one.
   */
  releaseHeldDirect(session: Session, first: readonly Envelope[], after: (complete: boolean) => readonly string[]): boolean {
    return this.release(session, this.personalSubjects(session).slice(1), first, after);
  }

  private release(session: Session, subjects: readonly string[], first: readonly Envelope[], after: (complete: boolean) => readonly string[]): boolean {
    const held = this.held.get(subjects[0]!)?.get(session);
    // Left or closed while its history was read.
    if (!held) return false;
    for (const subject of subjects) this.stopHolding(subject, session);
    const ws = session.ws;
    if (!ws) return false;
    const tail = first.at(-1);
    const last = (tail && offsetOf(tail)) ?? 0;
    const complete = held.length <= HOLD_LIMIT;
    const frames: string[] = [];
    for (const envelope of first) this.renderInto(frames, session, envelope);
    for (const envelope of complete ? held : []) {
      const offset = offsetOf(envelope);
      if (offset !== undefined && offset <= last) continue;
      if (envelope.from === session.address) continue;
      this.renderInto(frames, session, envelope);
    }
    frames.push(...after(complete));
    ws.cork(() => {
      for (const frame of frames) ws.send(frame);
    });
    this.stats.messagesOut += frames.length;
    for (const subject of subjects) ws.subscribe(topicFor(session.surface, subject));
    return complete;
  }

  /** As on fan-out: a message the surface cannot render costs only that message. */
  private renderInto(frames: string[], session: Session, envelope: Envelope): void {
    try {
      frames.push(...framesOf(session.surface.render(envelope, session.scope)));
    } catch (error) {
      this.guard.drop('subject', 'failed', error);
    }
  }

  private stopHolding(subject: string, session: Session): void {
    const holding = this.held.get(subject);
    if (!holding?.delete(session)) return;
    if (holding.size === 0) this.held.delete(subject);
  }

  leave(session: Session, channel: string): boolean {
    if (!session.channels.delete(channel)) return false;
    const subject = channelSubject(session.scope, channel);
    if (this.held.size > 0) this.stopHolding(subject, session);
    session.ws?.unsubscribe(topicFor(session.surface, subject));
    session.ws?.unsubscribe(presenceTopicFor(session.surface, subject));
    this.subjects.release(subject, session.surface);
    this.stats.subjects = this.subjects.size;
    this.members?.left(session, channel);
    return true;
  }

  /**
   * Resolves once NATS has every subscription made so far (one round trip), so a join answered
   * after it is in effect: a message published right after the answer reaches the new member.
   * While NATS is away it resolves at once: the subscription goes out on reconnect, and a join
   * must not wait for, or fail on, an outage.
   */
  async subscriptionsInEffect(): Promise<void> {
    try {
      assertNatsConnected(this.nc);
    } catch {
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, REQUEST_TIMEOUT_MS)));
    await Promise.race([this.nc.flush().catch(() => undefined), giveUp]);
    clearTimeout(timer);
  }

  /** From now on the session also gets the channel's presence events (join, leave). */
  subscribePresence(session: Session, channel: string): void {
    session.ws?.subscribe(presenceTopicFor(session.surface, channelSubject(session.scope, channel)));
    this.members?.present(session, channel);
  }

  /**
   * `rev` marks `fields.state` as stored participant state at that presence revision. A
   * channel that keeps history stores the message first (presence state is not history) and
   * resolves once stored; any other is published at once, as it always was.
   */
  publish(session: Session, channel: string, fields: Fields, rev?: number): Promise<void> | undefined {
    this.assertCanPublish(session, channel, fields, rev !== undefined);
    if (this.clientMessages?.wants(session, channel)) {
      // Stored for the webhooks first: a message members got is never missing from them.
      assertNatsConnected(this.nc);
      return this.clientMessages.store(session, channel, fields).then(() => this.publishChecked(session, channel, fields, rev));
    }
    return this.publishChecked(session, channel, fields, rev);
  }

  /** The publish once it is allowed (and, on a webhooks channel, stored for them). */
  private publishChecked(session: Session, channel: string, fields: Fields, rev: number | undefined): Promise<void> | undefined {
    if (rev === undefined && this.history?.keeps(session.scope, channel)) {
      assertNatsConnected(this.nc);
      return this.history.store(session.scope, { t: 'publish', ch: channel, from: session.address, fields }).then(() => void metrics.historyStored.inc());
    }
    const envelope: Envelope = rev === undefined
      ? { t: 'publish', ch: channel, from: session.address, fields }
      : { t: 'publish', ch: channel, from: session.address, fields, rev };
    this.publishEnvelope(channelSubject(session.scope, channel), envelope);
    return undefined;
  }

  /** `storesState`: the message's `state` is written to presence, which needs `presence` rather than `publish`. */
  assertCanPublish(session: Session, channel: string, fields: Fields, storesState: boolean): void {
    assertMayMessage(session.permissions, channel, fields, storesState);
    if (!session.channels.has(channel)) {
      throw new SignalError('not_joined', `join channel '${channel}' before publishing to it`, { field: 'id' });
    }
  }

  /**
   * Delivers an envelope to this node's members of a channel only, as if it came from NATS.
   * Nothing is rendered for a topic nobody subscribes to: a gateway opening its feed of a big
   * channel for its first joiner catches the channel up with one join per participant, which
   * nobody is subscribed to yet (the joiner gets presence events after its list).
   */
  deliverLocally(scope: Scope, channel: string, envelope: Envelope): void {
    const entry = this.subjects.get(channelSubject(scope, channel));
    if (entry) this.deliver(entry, envelope, true);
  }

  /** Publishes an envelope on a channel's subject as this session (presence events use this too). */
  publishEnvelope(subject: string, envelope: Envelope): void {
    assertNatsConnected(this.nc);
    this.nc.publish(subject, encodeEnvelope(envelope));
  }

  /**
   * Direct message. With `confirm`, waits until a node holding a matching connection has
   * taken it, and fails with not_found when none exists anywhere in the cluster; where the
   * environment keeps direct messages, one to a user or device is stored instead, and
   * resolves once stored.
   */
  async send(session: Session, to: Address, fields: Fields, channel: string | undefined, confirm: boolean): Promise<void> {
    assertMaySend(session.permissions, to.identity, fields, channel);
    assertNatsConnected(this.nc);
    const subject = this.addressSubject(session, to);
    const envelope: SendEnvelope = channel === undefined
      ? { t: 'send', from: session.address, fields }
      : { t: 'send', ch: channel, from: session.address, fields };
    if (to.kind !== 'connection' && this.history?.keepsDirect(session.scope)) {
      // Stored first (docs/recovery.md): the stream republishes it to the recipient's
      // connections; one offline now gets it when it reconnects. So a confirmed send is
      // answered once stored, not once delivered, and never with not_found.
      await this.history.storeDirect(session.scope, to.kind === 'device' ? { identity: to.identity, device: to.device } : { identity: to.identity }, envelope);
      metrics.historyStored.inc();
      return;
    }
    const data = encodeEnvelope(envelope);
    if (!confirm) {
      this.nc.publish(subject, data);
      return;
    }
    let reply: Msg;
    try {
      reply = await this.nc.request(subject, data, { timeout: REQUEST_TIMEOUT_MS });
    } catch (error) {
      if (isNoResponders(error)) {
        throw new SignalError('not_found', `no connection is online at '${formatAddress(to)}'`, { field: 'to' });
      }
      throw new SignalError('unavailable', 'delivery could not be confirmed; try again', { cause: error });
    }
    if (reply.string() !== '{"ok":true}') {
      throw new SignalError('not_found', `no connection is online at '${formatAddress(to)}'`, { field: 'to' });
    }
  }

  private addressSubject(session: Session, to: Address): string {
    switch (to.kind) {
      case 'user':
        return userSubject(session.scope, to.identity);
      case 'device':
        return deviceSubject(session.scope, to.identity, to.device);
      case 'connection': {
        const node = nodeOfRoute(to.route);
        if (node === undefined) throw new SignalError('invalid_params', `'${formatAddress(to)}' has no valid route`, { field: 'to' });
        return connectionSubject(session.scope, node, to.route);
      }
    }
  }

  private personalSubjects(session: Session): string[] {
    const subjects = [broadcastSubject(session.scope)];
    if (!session.anonymous) {
      subjects.push(userSubject(session.scope, session.identity), deviceSubject(session.scope, session.identity, session.device));
    }
    return subjects;
  }

  /**
   * One membership more, for every kind of join (the channel's subject, its count for
   * occupancy); `live`: the socket gets the channel's traffic at once, else `releaseHeld` subscribes it.
   */
  private addChannel(session: Session, channel: string, live: boolean): boolean {
    assertMay(session.permissions, 'subscribe', channel);
    if (session.channels.has(channel)) return false;
    session.channels.add(channel);
    const subject = channelSubject(session.scope, channel);
    if (live) this.subscribe(session, subject);
    else {
      this.subjects.acquire(subject, session.scope, session.surface);
      this.stats.subjects = this.subjects.size;
    }
    this.members?.joined(session, channel);
    return true;
  }

  private subscribe(session: Session, subject: string): void {
    session.ws?.subscribe(topicFor(session.surface, subject));
    this.subjects.acquire(subject, session.scope, session.surface);
    this.stats.subjects = this.subjects.size;
  }

  private fanOut(entry: SubjectEntry, msg: Msg): void {
    const started = ++this.stats.messagesIn % FANOUT_SAMPLE_EVERY === 0 ? performance.now() : undefined;
    const decoded = decodeEnvelope(msg.data);
    if (!decoded) {
      // Not an envelope: a command for gateways, or garbage. Decoded only here, off the hot path.
      const command = decodeControl(msg.data);
      if (command) return void this.guard.run('subject', () => this.onControl(entry.scope, entry.subject, command));
      this.stats.invalidEnvelopes++;
      this.guard.drop('subject', 'invalid');
      return;
    }
    // Only a history stream's republish carries headers: its position.
    const positioned = msg.headers === undefined ? decoded : this.positioned(entry, decoded, msg);
    let envelope: Envelope | undefined = positioned;
    if (this.filter) {
      try {
        envelope = this.filter(entry.scope, positioned);
      } catch (error) {
        return this.guard.drop('presence', 'failed', error);
      }
    }
    if (envelope) this.deliver(entry, envelope);
    if (msg.reply) msg.respond(DELIVERED);
    if (started !== undefined) metrics.fanOutSeconds.observe((performance.now() - started) / 1000);
  }

  private positioned(entry: SubjectEntry, envelope: Envelope, msg: Msg): Envelope {
    if ((envelope.t !== 'publish' && envelope.t !== 'send') || !this.history || !msg.headers) return envelope;
    const pos = this.history.positionOf(entry.scope, msg.headers);
    return pos === undefined ? envelope : { ...envelope, pos };
  }

  private deliver(entry: SubjectEntry, envelope: Envelope, unlessUnheard = false): void {
    // The sender does not get its own message back; uWS excludes a socket from its own publish.
    const sender = envelope.from === undefined ? undefined : this.sessions.get(routeOf(envelope.from));
    const presence = this.isPresenceEvent(entry.scope, envelope);
    const holding = !presence && this.held.size > 0 ? this.held.get(entry.subject) : undefined;
    if (holding) {
      // One past the limit marks the gap; nothing more is kept.
      for (const held of holding.values()) if (held.length <= HOLD_LIMIT) held.push(envelope);
    }
    for (const surface of entry.surfaces.keys()) {
      // Each surface on its own: a render that throws (e.g. JSON.stringify overflowing on a
      // deeply nested payload) costs only that surface this message. Inline, not guard.run: no
      // closure per surface per message on the fan-out path.
      try {
        const topic = presence ? presenceTopicFor(surface, entry.subject) : topicFor(surface, entry.subject);
        if (unlessUnheard && this.app.numSubscribers(topic) === 0) continue;
        const frames = framesOf(surface.render(envelope, entry.scope));
        for (const frame of frames) {
          if (sender?.ws && sender.surface === surface) sender.ws.publish(topic, frame);
          else this.app.publish(topic, frame);
          this.stats.messagesOut++;
          this.stats.bytesOut += Buffer.byteLength(frame);
        }
      } catch (error) {
        this.guard.drop('subject', 'failed', error);
      }
    }
  }

  private deliverToConnection(msg: Msg): void {
    this.stats.messagesIn++;
    const target = parseConnectionSubject(msg.subject);
    const session = target && this.sessions.get(target.connection);
    const envelope = decodeEnvelope(msg.data);
    const reachable = session?.ws && session.scope.app === target!.app && session.scope.env === target!.env;
    const command = envelope ? undefined : decodeControl(msg.data);
    if (command) {
      if (reachable) this.guard.run('connection', () => this.onControl(session.scope, msg.subject, command));
      return;
    }
    if (!envelope) {
      this.stats.invalidEnvelopes++;
      this.guard.drop('connection', 'invalid');
    }
    let delivered = false;
    if (reachable && envelope) {
      const ws = session.ws!;
      // Guarded here rather than only around the callback, so a failed render still answers.
      delivered = this.guard.run('connection', () => {
        const frames = framesOf(session.surface.render(envelope, session.scope));
        ws.cork(() => {
          for (const frame of frames) ws.send(frame);
        });
        this.stats.messagesOut += frames.length;
        for (const frame of frames) this.stats.bytesOut += Buffer.byteLength(frame);
      });
    }
    if (msg.reply) msg.respond(delivered ? DELIVERED : NOT_HERE);
  }
}

/** A stored message's offset (channel or direct); undefined for anything else. */
function offsetOf(envelope: Envelope): number | undefined {
  return envelope.t === 'publish' || envelope.t === 'send' ? envelope.pos?.offset : undefined;
}

function routeOf(address: string): string {
  return address.slice(address.lastIndexOf('/') + 1);
}
