import { JetStreamApiError, jetstreamManager, type JetStreamManager, type StreamConfig, type StreamInfo } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { SignalError, historyRepublishTarget, historyStreamName, historySubjects, type HistorySettings, type Scope } from '@signal/core';

/** JetStream API error code: no such stream. */
const STREAM_NOT_FOUND = 10059;
const NANOS_PER_SECOND = 1_000_000_000;

/** What a reader needs to know of an environment's stream at one moment. */
export interface StreamState {
  readonly stream: string;
  /** Changes whenever the history was lost: the stream's creation time, which a recreated stream does not share. */
  readonly epoch: string;
  /** The oldest message still stored (last + 1 when the stream is empty). */
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** Messages kept per channel. */
  readonly maxPerChannel: number;
}

export interface HistoryStreamOptions {
  /** Copies of each environment's stream in a NATS cluster (HISTORY_REPLICAS). */
  readonly replicas: number;
}

/**
 * An environment's history stream, created on first use with the window of the apps file
 * (one stream per environment: its own storage, so one tenant's traffic never evicts
 * another's) and updated when a reload changes the window. The stream stores what is
 * published on `hist.<app>.<env>.>` and republishes it on the `sig.` subject gateways already
 * subscribe to, with `Nats-Sequence` in its headers: the message's position.
 */
export class HistoryStreams {
  private manager: Promise<JetStreamManager> | undefined;
  /** Streams already checked against their window: stream name → settings it was checked with. */
  private readonly checked = new Map<string, { settings: HistorySettings; epoch: Promise<string> }>();
  /** Epochs by stream name, as last learned: what live messages are labelled with. */
  private readonly epochs = new Map<string, string>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: HistoryStreamOptions,
  ) {}

  /** The epoch live messages of this stream carry; undefined until the stream was first used here. */
  epochOf(stream: string): string | undefined {
    return this.epochs.get(stream);
  }

  /**
   * Makes sure the environment's stream exists with this window (once per window per process)
   * and resolves with its epoch.
   */
  ensure(scope: Scope, settings: HistorySettings): Promise<string> {
    const stream = historyStreamName(scope);
    const known = this.checked.get(stream);
    if (known && known.settings === settings) return known.epoch;
    const epoch = this.createOrUpdate(scope, settings);
    this.checked.set(stream, { settings, epoch });
    epoch.catch(() => this.checked.delete(stream));
    return epoch;
  }

  /**
   * The stream as it is now (one request): also refreshes the epoch live messages get. A
   * stream deleted behind this process's back is created again (a new epoch).
   */
  async state(scope: Scope, settings: HistorySettings): Promise<StreamState> {
    const stream = historyStreamName(scope);
    const jsm = await this.call(() => this.jsm());
    try {
      return this.learn(await jsm.streams.info(stream));
    } catch (error) {
      if (!isStreamNotFound(error)) throw unavailable(error);
      this.forget(scope);
      await this.ensure(scope, settings);
      return this.learn(await this.call(() => jsm.streams.info(stream)));
    }
  }

  /** The stream was recreated behind this process's back (its sequence went backwards): learn the new epoch. */
  refresh(scope: Scope, settings: HistorySettings): void {
    this.state(scope, settings).catch(() => undefined);
  }

  /** The stream may be gone (a publish found nobody to store it): check it again on next use. */
  forget(scope: Scope): void {
    this.checked.delete(historyStreamName(scope));
  }

  private async createOrUpdate(scope: Scope, settings: HistorySettings): Promise<string> {
    const config = streamConfig(scope, settings, this.options.replicas);
    const jsm = await this.call(() => this.jsm());
    let info: StreamInfo;
    try {
      info = await jsm.streams.info(config.name);
    } catch (error) {
      if (!isStreamNotFound(error)) throw unavailable(error);
      info = await this.call(() => jsm.streams.add(config));
      return this.learn(info).epoch;
    }
    if (differs(info.config, config)) {
      info = await this.call(() => jsm.streams.update(config.name, config));
    }
    return this.learn(info).epoch;
  }

  private learn(info: StreamInfo): StreamState {
    const epoch = info.created;
    this.epochs.set(info.config.name, epoch);
    return {
      stream: info.config.name,
      epoch,
      firstSeq: info.state.first_seq,
      lastSeq: info.state.last_seq,
      maxPerChannel: info.config.max_msgs_per_subject,
    };
  }

  private jsm(): Promise<JetStreamManager> {
    this.manager ??= jetstreamManager(this.nc).catch((error: unknown) => {
      this.manager = undefined;
      throw error;
    });
    return this.manager;
  }

  private async call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw unavailable(error);
    }
  }
}

/** The stream an environment's window asks for. */
export function streamConfig(scope: Scope, settings: HistorySettings, replicas: number): Partial<StreamConfig> & { name: string } {
  return {
    name: historyStreamName(scope),
    subjects: [historySubjects(scope)],
    max_msgs_per_subject: settings.maxMessages,
    max_age: settings.maxAgeSeconds * NANOS_PER_SECOND,
    max_bytes: settings.maxBytes,
    num_replicas: replicas,
    republish: { src: historySubjects(scope), dest: historyRepublishTarget(scope) },
  } as Partial<StreamConfig> & { name: string };
}

function differs(current: StreamConfig, wanted: Partial<StreamConfig>): boolean {
  return (
    current.max_msgs_per_subject !== wanted.max_msgs_per_subject ||
    current.max_age !== wanted.max_age ||
    current.max_bytes !== wanted.max_bytes ||
    current.num_replicas !== wanted.num_replicas
  );
}

function isStreamNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === STREAM_NOT_FOUND;
}

function unavailable(error: unknown): SignalError {
  if (error instanceof SignalError) return error;
  return new SignalError('unavailable', `channel history is unreachable: ${(error as Error).message}; try again`, { cause: error });
}
