import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import {
  SignalError,
  decodeEnvelope,
  encodeEnvelope,
  historyStreamName,
  historySubject,
  type Apps,
  type HistorySettings,
  type Position,
  type PublishEnvelope,
  type Scope,
} from '@signal/core';
import { StoredPublisher } from './publish-stored.js';
import { readStored, type StoredMessage } from './read-stored.js';
import { judgeRecovery, type Recovery } from './recovery.js';
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
export interface RecoveryRead {
  readonly recovery: Recovery;
  readonly missed: readonly PublishEnvelope[];
  readonly state: StreamState;
}

/**
 * Channel history as both services use it (docs/recovery.md): which channels keep it,
 * storing their messages, labelling live ones with their position, and reading stored ones.
 * Channels without history never reach this module.
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
    return this.apps.keepsHistory(scope, channel);
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
  async prepare(environments: ReadonlyArray<{ scope: Scope; settings: HistorySettings }>): Promise<Array<{ scope: Scope; error: Error }>> {
    const failures: Array<{ scope: Scope; error: Error }> = [];
    for (const { scope, settings } of environments) {
      await this.streams.ensure(scope, settings).catch((error: Error) => failures.push({ scope, error }));
    }
    return failures;
  }

  /** The window in force; a reload may have taken it away since the caller looked. */
  private settingsOf(scope: Scope): HistorySettings {
    const settings = this.apps.historyOf(scope);
    if (!settings) throw new SignalError('not_found', `${scope.app}/${scope.env} keeps no channel history`);
    return settings;
  }

  /** Stores a message of a channel that keeps history; the stream republishes it to the channel's members. */
  async store(scope: Scope, envelope: PublishEnvelope): Promise<Position> {
    const subject = historySubject(scope, envelope.ch);
    const data = encodeEnvelope(envelope);
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

  /** Where a live message republished by a history stream sits; undefined for any other message. */
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
   * effect (so everything later arrives live), and whether it is all that was missed.
   */
  async recover(scope: Scope, channel: string, since: Position): Promise<RecoveryRead> {
    const settings = this.settingsOf(scope);
    const stored = await this.read(scope, channel, since.offset, settings.maxMessages + 1);
    const state = await this.streams.state(scope, settings);
    const recovery = judgeRecovery(since, state, stored);
    const missed = recovery.recovered ? entries(recovery.missed, channel, state.epoch).map((entry) => entry.envelope) : [];
    return { recovery, missed, state };
  }

  /** Up to `limit` stored messages of a channel after `after`, oldest first, and the stream's epoch. */
  async page(scope: Scope, channel: string, after: number, limit: number): Promise<{ epoch: string; entries: HistoryEntry[] }> {
    await this.ensure(scope);
    const stored = await this.read(scope, channel, after + 1, limit);
    const state = await this.streams.state(scope, this.settingsOf(scope));
    return { epoch: state.epoch, entries: entries(stored, channel, state.epoch) };
  }

  /**
   * Tries a few times: right after a NATS server died, a read's consumer may be placed on it
   * (it is still one of the stream's peers) and never answer; the next one lands elsewhere.
   */
  private async read(scope: Scope, channel: string, from: number, limit: number): Promise<StoredMessage[]> {
    const range = { from, limit, timeoutMs: this.options.readTimeoutMs };
    for (let attempt = 1; ; attempt++) {
      try {
        return await readStored(this.nc, historyStreamName(scope), historySubject(scope, channel), range);
      } catch (error) {
        if (attempt >= READ_ATTEMPTS) throw error;
      }
    }
  }
}

/** Only gateways and the emit-api write the stream; anything else found there is skipped, as it would be live. */
function entries(stored: readonly StoredMessage[], channel: string, epoch: string): HistoryEntry[] {
  const result: HistoryEntry[] = [];
  for (const message of stored) {
    const envelope = decodeEnvelope(message.data);
    if (envelope?.t === 'publish' && envelope.ch === channel) {
      result.push({ envelope: { ...envelope, pos: { offset: message.seq, epoch } }, storedAt: message.storedAt });
    }
  }
  return result;
}
