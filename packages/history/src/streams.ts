import { JetStreamApiError, jetstreamManager, type JetStreamManager, type StreamConfig, type StreamInfo } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { SignalError, historyRepublishTarget, historyStreamName, historySubjects, type HistoryStreamLimits, type Scope } from '@signal/core';

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
  /** Messages kept per subject (channel, user or device): the largest window of the environment. */
  readonly maxPerChannel: number;
}

export interface HistoryStreamOptions {
  /** Copies of each environment's stream in a NATS cluster (HISTORY_REPLICAS). */
  readonly replicas: number;
  /**
   * Whether this process creates missing streams (the emit-api does, at start, on reloads and
   * before storing; gateways only use them, so their NATS user needs no right to create
   * streams). Nobody changes an existing stream: see `mismatches`.
   */
  readonly create: boolean;
  /** Told when an existing stream's window differs from the apps file's: it is used as it is. */
  readonly onMismatch?: (stream: string, differences: string[]) => void;
}

/**
 * An environment's history stream, created (by the emit-api) with the window of the apps file:
 * one stream per environment, its own storage, so one tenant's traffic never evicts another's. The stream stores what is
 * published on `hist.<app>.<env>.>` and republishes it on the `sig.` subject gateways already
 * subscribe to, with `Nats-Sequence` in its headers: the message's position.
 */
export class HistoryStreams {
  private manager: Promise<JetStreamManager> | undefined;
  /** Streams already checked against their window: stream name → settings it was checked with. */
  private readonly checked = new Map<string, { settings: HistoryStreamLimits; epoch: Promise<string> }>();
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
  ensure(scope: Scope, settings: HistoryStreamLimits): Promise<string> {
    const stream = historyStreamName(scope);
    const known = this.checked.get(stream);
    if (known && known.settings === settings) return known.epoch;
    const epoch = this.createOrCheck(scope, settings);
    this.checked.set(stream, { settings, epoch });
    epoch.catch(() => this.checked.delete(stream));
    return epoch;
  }

  /**
   * The stream as it is now (one request): also refreshes the epoch live messages get. A
   * stream deleted behind this process's back is created again (a new epoch) where this process creates streams.
   */
  async state(scope: Scope, settings: HistoryStreamLimits): Promise<StreamState> {
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
  refresh(scope: Scope, settings: HistoryStreamLimits): void {
    this.state(scope, settings).catch(() => undefined);
  }

  /** The stream may be gone (a publish found nobody to store it): check it again on next use. */
  forget(scope: Scope): void {
    this.checked.delete(historyStreamName(scope));
  }

  private async createOrCheck(scope: Scope, settings: HistoryStreamLimits): Promise<string> {
    const config = streamConfig(scope, settings, this.options.replicas);
    const jsm = await this.call(() => this.jsm());
    let info: StreamInfo;
    try {
      info = await jsm.streams.info(config.name);
    } catch (error) {
      if (!isStreamNotFound(error)) throw unavailable(error);
      if (!this.options.create) {
        throw new SignalError('unavailable', `the history stream ${config.name} does not exist yet; the emit-api creates it (is it running?)`);
      }
      info = await this.call(() => jsm.streams.add(config));
      return this.learn(info).epoch;
    }
    const differences = mismatches(info.config, config);
    if (differences.length > 0) this.options.onMismatch?.(config.name, differences);
    return this.learn(info).epoch;
  }

  private learn(info: StreamInfo): StreamState {
    const epoch = epochOf(info.created);
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
export function streamConfig(scope: Scope, settings: HistoryStreamLimits, replicas: number): Partial<StreamConfig> & { name: string } {
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

/**
 * How an existing stream differs from what the apps file asks. It is used as it is (as the
 * presence buckets are): changing a stream needs a right no service has; an operator applies
 * a new window with `nats stream edit` (docs/recovery.md). Recovery reads the stream's own
 * limits, so it stays exact either way.
 */
export function mismatches(current: StreamConfig, wanted: Partial<StreamConfig>): string[] {
  const differences: string[] = [];
  const check = (name: keyof StreamConfig, setting: string) => {
    if (current[name] !== wanted[name]) differences.push(`${name} ${String(current[name])} (apps file: ${String(wanted[name])}, ${setting})`);
  };
  check('max_msgs_per_subject', 'the largest history.maxMessages of the environment and its namespaces');
  check('max_age', 'the largest history.maxAgeSeconds of the environment and its namespaces, in ns');
  check('max_bytes', 'history.maxBytes');
  check('num_replicas', 'HISTORY_REPLICAS');
  return differences;
}

/**
 * A stream's creation time, compact (it travels in every message of a history channel):
 * seconds and nanoseconds in base 36, e.g. `tqc1kp.rt7f1d`. A recreated stream has another.
 */
export function epochOf(created: string): string {
  const match = /^(.*?)(?:\.(\d+))?Z$/.exec(created);
  const seconds = match ? Date.parse(`${match[1]}Z`) / 1000 : Number.NaN;
  if (!Number.isSafeInteger(seconds)) return created;
  const nanos = Number((match![2] ?? '').padEnd(9, '0').slice(0, 9));
  return `${seconds.toString(36)}.${nanos.toString(36)}`;
}

function isStreamNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === STREAM_NOT_FOUND;
}

function unavailable(error: unknown): SignalError {
  if (error instanceof SignalError) return error;
  return new SignalError('unavailable', `channel history is unreachable: ${(error as Error).message}; try again`, { cause: error });
}
