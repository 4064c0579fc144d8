import type { QueuedIterator } from '@nats-io/transport-node';
import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { EntryGuard } from '../nodes/liveness-watch.js';
import { decodeRevocation, revocationKeyParts, type Revocation } from './revocation-entry.js';

/** The label dropped revocation entries are counted under. */
const SOURCE = 'revocation';
/** How long `start` waits for the entries already in the bucket before going on without them. */
const CATCH_UP_TIMEOUT_MS = 10_000;

export interface RevocationListener {
  /** A revocation was written (or was there when the watch started). */
  revoked(revocation: Revocation): void;
  /** An entry was deleted by hand (`nats kv del`): what it named is no longer revoked. */
  withdrawn(key: { scope: Revocation['scope']; kind: 'jti' | 'user'; subject: string }): void;
}

/**
 * One KV watch per gateway over the whole revocation bucket: every entry there when it starts,
 * then each new one as it is written (milliseconds after the emit-api's write). Each entry is
 * handled through the guard: one that cannot be read is dropped and counted, never thrown
 * into the watch loop.
 */
export class RevocationWatch {
  private iterator: QueuedIterator<KvWatchEntry> | undefined;
  private stopped = false;
  private readonly handle: (entry: KvWatchEntry) => void;

  constructor(
    private readonly kv: KV,
    private readonly guard: EntryGuard,
    private readonly listener: RevocationListener,
  ) {
    this.handle = guard.wrap(SOURCE, (entry: KvWatchEntry) => this.apply(entry));
  }

  /**
   * Resolves once every entry already in the bucket has been handed to the listener (so a
   * gateway refuses revoked tokens from its first connection on), or after 10 s with `false`:
   * then the rest arrive as the watch goes on, and what they cover is closed then.
   */
  async start(): Promise<boolean> {
    this.stopped = false;
    const { state } = (await this.kv.status()).streamInfo;
    const last = state.messages === 0 ? 0 : state.last_seq;
    let caughtUp: () => void = () => undefined;
    const ready = new Promise<boolean>((resolve) => (caughtUp = () => resolve(true)));
    if (last === 0) caughtUp();
    const iterator = await this.kv.watch();
    this.iterator = iterator;
    void (async () => {
      for await (const entry of iterator) {
        this.handle(entry);
        if (entry.revision >= last) caughtUp();
      }
    })().catch((error: unknown) => this.guard.drop(SOURCE, 'failed', error));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), CATCH_UP_TIMEOUT_MS)));
    const result = await Promise.race([ready, late]);
    clearTimeout(timer);
    return result;
  }

  /** Re-opens the watch (after a NATS reconnect); it replays every entry, which is harmless. */
  async restart(): Promise<void> {
    this.iterator?.stop();
    this.iterator = undefined;
    if (!this.stopped) await this.start();
  }

  stop(): void {
    this.stopped = true;
    this.iterator?.stop();
  }

  private apply(entry: KvWatchEntry): void {
    if (entry.operation !== 'PUT') {
      const key = revocationKeyParts(entry.key);
      if (!key) return this.guard.drop(SOURCE, 'invalid');
      return this.listener.withdrawn(key);
    }
    const revocation = decodeRevocation(entry.key, entry.value);
    if (!revocation) return this.guard.drop(SOURCE, 'invalid');
    this.listener.revoked(revocation);
  }
}
