import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import {
  SignalError,
  decodeEnvelope,
  directHistorySubject,
  encodeEnvelope,
  historyStreamName,
  historySubject,
  type Apps,
  type HistoryStreamLimits,
  type HistoryWindow,
  type Position,
  type PublishEnvelope,
  type Scope,
  type SendEnvelope,
} from '@signal/core';
import { StoredPublisher } from './publish-stored.js';
import { readStored, type StoredMessage, type StoredRead } from './read-stored.js';
import { judgeRecovery, withinWindow, type Recovery } from './recovery.js';
import { HistoryStreams, type HistoryStreamOptions, type StreamState } from './streams.js';

/** Headers the history stream adds to what it republishes. */
const STREAM_HEADER = 'Nats-Stream';
const SEQUENCE_HEADER = 'Nats-Sequence';
/** Reads of stored messages tried before a recovery or a page gives up (`unavailable`). */
const READ_ATTEMPTS = 3;

export interface HistoryStoreOptions extends HistoryStreamOptions {
  /** HISTORY_READ_TIMEOUT_MS. */
  readonly readTimeoutMs: number;
}

/** A stored channel message, decoded, with its place. */
export interface HistoryEntry {
  readonly envelope: PublishEnvelope;
  readonly storedAt: number;
}

/** A recovery's outcome, with the missed messages positioned, and the stream as it was read. */
export interface RecoveryRead<E extends PublishEnvelope | SendEnvelope = PublishEnvelope> {
  readonly recovery: Recovery;
  readonly missed: readonly E[];
  readonly state: StreamState;
}

/** A user's own direct messages: to the user, and to the one device a connection is (absent: the user's only). */
export interface DirectAddress {
  readonly identity: string;
  readonly device?: string | undefined;
}

/**
 * History as both services use it (docs/recovery.md): which channels (and whether direct
 * messages) keep it, storing their messages, labelling live ones with their position, and
 * reading stored ones. Channels and direct messages without history never reach this module.
 */
export class HistoryStore {
  private readonly streams: HistoryStreams;
  private readonly publisher: StoredPublisher;
  /** Highest sequence seen live per stream: one going backwards means the stream was recreated. */
  private readonly lastSeen = new Map<string, number>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly apps: Apps,
    private readonly options: HistoryStoreOptions,
  ) {
    this.streams = new HistoryStreams(nc, options);
    this.publisher = new StoredPublisher(nc);
  }

  keeps(scope: Scope, channel: string): boolean {
    return this.apps.historyWindowOf(scope, channel) !== undefined;
  }

  /** Whether the environment keeps direct messages to users and devices. */
  keepsDirect(scope: Scope): boolean {
    return this.apps.directHistoryOf(scope) !== undefined;
  }

  /** The environment's stream exists with its current window; resolves with its epoch. */
  async ensure(scope: Scope): Promise<string> {
    return this.streams.ensure(scope, this.settingsOf(scope));
  }

  /**
   * Makes sure every environment that keeps history has its stream (the emit-api, at start
   * and after a reload); resolves with the ones that could not be checked, which are tried
   * again before their next use.
   */
  async prepare(environments: ReadonlyArray<{ scope: Scope; settings: HistoryStreamLimits }>): Promise<Array<{ scope: Scope; error: Error }>> {
    const failures: Array<{ scope: Scope; error: Error }> = [];
    for (const { scope, settings } of environments) {
      await this.streams.ensure(scope, settings).catch((error: Error) => failures.push({ scope, error }));
    }
    return failures;
  }

  /** The stream's limits in force; a reload may have taken them away since the caller looked. */
  private settingsOf(scope: Scope): HistoryStreamLimits {
    const settings = this.apps.historyOf(scope);
    if (!settings) throw new SignalError('not_found', `${scope.app}/${scope.env} keeps no history`);
    return settings;
  }

  private windowOf(scope: Scope, channel: string): HistoryWindow {
    const window = this.apps.historyWindowOf(scope, channel);
    if (!window) throw new SignalError('not_found', `channel '${channel}' keeps no history`, { field: 'channel' });
    return window;
  }

  private directWindowOf(scope: Scope): HistoryWindow {
    const window = this.apps.directHistoryOf(scope);
    if (!window) throw new SignalError('not_found', `${scope.app}/${scope.env} keeps no direct-message history`);
    return window;
  }

  /** Stores a message of a channel that keeps history; the stream republishes it to the channel's members. */
  async store(scope: Scope, envelope: PublishEnvelope): Promise<Position> {
    return this.storeAt(scope, historySubject(scope, envelope.ch), encodeEnvelope(envelope));
  }

  /**
   * Stores a direct message to a user (`to.device` absent) or a device, where the environment
   * keeps them; the stream republishes it to the address's connections.
   */
  async storeDirect(scope: Scope, to: DirectAddress, envelope: SendEnvelope): Promise<Position> {
    return this.storeAt(scope, directHistorySubject(scope, to.identity, to.device), encodeEnvelope(envelope));
  }

  private async storeAt(scope: Scope, subject: string, data: Uint8Array): Promise<Position> {
    const epoch = await this.ensure(scope);
    try {
      return { offset: await this.publisher.publish(subject, data), epoch };
    } catch {
      // The stream may have been deleted behind this process's back: check (create) it and try once more.
      this.streams.forget(scope);
      const again = await this.ensure(scope);
      return { offset: await this.publisher.publish(subject, data), epoch: again };
    }
  }

  /** Where a live message (channel or direct) republished by a history stream sits; undefined for any other message. */
  positionOf(scope: Scope, headers: MsgHdrs): Position | undefined {
    const stream = headers.get(STREAM_HEADER);
    const offset = Number(headers.get(SEQUENCE_HEADER));
    if (stream !== historyStreamName(scope) || !Number.isSafeInteger(offset) || offset < 1) return undefined;
    if (offset < (this.lastSeen.get(stream) ?? 0)) {
      const settings = this.apps.historyOf(scope);
      if (settings) this.streams.refresh(scope, settings);
    }
    this.lastSeen.set(stream, offset);
    const epoch = this.streams.epochOf(stream);
    return epoch === undefined ? undefined : { offset, epoch };
  }

  /** The stream now: the position a fresh join starts from. */
  async position(scope: Scope): Promise<Position> {
    const state = await this.streams.state(scope, this.settingsOf(scope));
    return { epoch: state.epoch, offset: state.lastSeq };
  }

  /**
   * What the channel stored after `since`, read after the caller's live subscription took
   * effect (so everything later arrives live), and whether it is all that was missed within
   * the channel's window.
   */
  async recover(scope: Scope, channel: string, since: Position): Promise<RecoveryRead> {
    const settings = this.settingsOf(scope);
    const window = this.windowOf(scope, channel);
    const subjects = [historySubject(scope, channel)];
    const read = await this.read(scope, subjects, since.offset, window.maxMessages + 1);
    const state = await this.streams.state(scope, settings);
    const recovery = judgeRecovery(since, state, read, { subjects, window, now: Date.now() });
    const missed = recovery.recovered ? channelEntries(recovery.missed, channel, state.epoch).map((entry) => entry.envelope) : [];
    return { recovery, missed, state };
  }

  /**
   * A connection's own direct messages (to its user, and to its device) stored after `since`,
   * in stream order, read after its live subscriptions took effect; as `recover`.
   */
  async recoverDirect(scope: Scope, to: DirectAddress, since: Position): Promise<RecoveryRead<SendEnvelope>> {
    const settings = this.settingsOf(scope);
    const window = this.directWindowOf(scope);
    const subjects = directSubjects(scope, to);
    // Per subject, as for a channel: the window and one more (the message at `since`, or one past the window).
    const read = await this.read(scope, subjects, since.offset, window.maxMessages + 1);
    const state = await this.streams.state(scope, settings);
    const recovery = judgeRecovery(since, state, read, { subjects, window, now: Date.now() });
    const missed = recovery.recovered ? directEnvelopes(recovery.missed, state.epoch) : [];
    return { recovery, missed, state };
  }

  /**
   * Up to `limit` stored messages of a channel's window after `after`, oldest first, and the
   * stream's epoch; `more` when the window holds further ones.
   */
  async page(scope: Scope, channel: string, after: number, limit: number): Promise<{ epoch: string; entries: HistoryEntry[]; more: boolean }> {
    await this.ensure(scope);
    const settings = this.settingsOf(scope);
    const window = this.windowOf(scope, channel);
    // A subject holds at most the stream's per-subject count: read them all, serve the window's.
    const read = await this.read(scope, [historySubject(scope, channel)], after + 1, settings.maxMessages);
    const state = await this.streams.state(scope, settings);
    const kept = withinWindow(read, window, Date.now());
    return { epoch: state.epoch, entries: channelEntries(kept.slice(0, limit), channel, state.epoch), more: kept.length > limit };
  }

  /**
   * Tries a few times: right after a NATS server died, a read's consumer may be placed on it
   * (it is still one of the stream's peers) and never answer; the next one lands elsewhere.
   */
  private async read(scope: Scope, subjects: readonly string[], from: number, limit: number): Promise<StoredRead> {
    if (subjects.length === 1) return this.readOne(scope, subjects[0]!, from, limit);
    // A user's and a device's: read side by side, merged into stream order.
    const reads = await Promise.all(subjects.map((subject) => this.readOne(scope, subject, from, limit)));
    return {
      messages: reads.flatMap((read) => read.messages).sort((a, b) => a.seq - b.seq),
      pending: reads.reduce((sum, read) => sum + read.pending, 0),
    };
  }

  private async readOne(scope: Scope, subject: string, from: number, limit: number): Promise<StoredRead> {
    const range = { from, limit, timeoutMs: this.options.readTimeoutMs };
    for (let attempt = 1; ; attempt++) {
      try {
        return await readStored(this.nc, historyStreamName(scope), subject, range);
      } catch (error) {
        if (attempt >= READ_ATTEMPTS) throw error;
      }
    }
  }
}

/** The subjects a connection's direct messages are stored under: its user's, and its device's. */
function directSubjects(scope: Scope, to: DirectAddress): string[] {
  const user = directHistorySubject(scope, to.identity);
  return to.device === undefined ? [user] : [user, directHistorySubject(scope, to.identity, to.device)];
}

/** Only gateways and the emit-api write the stream; anything else found there is skipped, as it would be live. */
function channelEntries(stored: readonly StoredMessage[], channel: string, epoch: string): HistoryEntry[] {
  const result: HistoryEntry[] = [];
  for (const message of stored) {
    const envelope = decodeEnvelope(message.data);
    if (envelope?.t === 'publish' && envelope.ch === channel) {
      result.push({ envelope: { ...envelope, pos: { offset: message.seq, epoch } }, storedAt: message.storedAt });
    }
  }
  return result;
}

function directEnvelopes(stored: readonly StoredMessage[], epoch: string): SendEnvelope[] {
  const result: SendEnvelope[] = [];
  for (const message of stored) {
    const envelope = decodeEnvelope(message.data);
    if (envelope?.t === 'send') result.push({ ...envelope, pos: { offset: message.seq, epoch } });
  }
  return result;
}
