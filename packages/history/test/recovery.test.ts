import { describe, expect, it } from 'vitest';
import type { Position } from '@signal/core';
import { epochOf, judgeRecovery, withinWindow, type StoredMessage, type StoredRead, type StreamState } from '../src/mod.js';

const EPOCH = '2026-11-29T18:00:00.000000000Z';

function state(firstSeq: number, lastSeq: number, maxPerChannel = 3): StreamState {
  return { stream: 'SIGNAL_HISTORY_a_test', epoch: EPOCH, firstSeq, lastSeq, maxPerChannel };
}

const CHANNEL = 'hist.a.test.ch.call-7';
const USER = 'hist.a.test.u.alice';
const DEVICE = 'hist.a.test.d.alice.web';
const NOW = 1_800_000_000_000;

function stored(...seqs: number[]): StoredMessage[] {
  return seqs.map((seq) => at(CHANNEL, seq));
}

function at(subject: string, seq: number, storedAt = NOW): StoredMessage {
  return { seq, subject, storedAt, data: new Uint8Array() };
}

/** Everything stored from the position on was read. */
function all(messages: StoredMessage[]): StoredRead {
  return { messages, pending: messages.length };
}

/** A channel whose window is the stream's (3 messages, a minute). */
function judge(since: Position, streamState: StreamState, messages: StoredMessage[], window = { maxMessages: 3, maxAgeSeconds: 60 }) {
  return judgeRecovery(since, streamState, all(messages), { subjects: [CHANNEL], window, now: NOW });
}

describe('judgeRecovery', () => {
  it('recovers what follows a position whose own message is still stored', () => {
    const outcome = judge({ offset: 10, epoch: EPOCH }, state(1, 20), stored(10, 12, 17));
    expect(outcome).toEqual({ recovered: true, missed: stored(12, 17) });
  });

  it('recovers nothing missed when the position is the channel\'s last message', () => {
    expect(judge({ offset: 10, epoch: EPOCH }, state(5, 30), stored(10))).toEqual({ recovered: true, missed: [] });
  });

  it('recovers from a join position (not a message of the channel) while nothing after it aged out and fewer than the window came', () => {
    expect(judge({ offset: 10, epoch: EPOCH }, state(11, 30), stored(14, 18))).toEqual({ recovered: true, missed: stored(14, 18) });
    // An empty stream that went on from the position: nothing was published at all.
    expect(judge({ offset: 30, epoch: EPOCH }, state(31, 30), [])).toEqual({ recovered: true, missed: [] });
  });

  it('is not recovered when messages after the position may have aged out', () => {
    expect(judge({ offset: 10, epoch: EPOCH }, state(12, 30), stored(14))).toEqual({ recovered: false, reason: 'window' });
  });

  it('is not recovered when the channel holds a full window after the position (some may have been pushed out)', () => {
    expect(judge({ offset: 10, epoch: EPOCH }, state(1, 30), stored(14, 15, 16))).toEqual({ recovered: false, reason: 'window' });
  });

  it('is not recovered from another epoch, or from beyond the stream\'s end', () => {
    expect(judge({ offset: 10, epoch: 'other' }, state(1, 30), stored(10, 12))).toEqual({ recovered: false, reason: 'epoch' });
    expect(judge({ offset: 31, epoch: EPOCH }, state(1, 30), [])).toEqual({ recovered: false, reason: 'epoch' });
  });

  it('serves a namespace window smaller than the stream\'s: by count and by age', () => {
    const since = { offset: 10, epoch: EPOCH };
    const small = { maxMessages: 2, maxAgeSeconds: 5 };
    expect(judge(since, state(1, 30, 10), stored(10, 12, 17), small)).toEqual({ recovered: true, missed: stored(12, 17) });
    expect(judge(since, state(1, 30, 10), stored(10, 12, 17, 18), small)).toEqual({ recovered: false, reason: 'window' });
    // Still stored (the stream keeps a minute), but older than the namespace's 5 s.
    const aged = [at(CHANNEL, 10), at(CHANNEL, 12, NOW - 6000), at(CHANNEL, 17)];
    expect(judge(since, state(1, 30, 10), aged, small)).toEqual({ recovered: false, reason: 'window' });
  });

  it('is not recovered when more was stored after the position than was read', () => {
    const read = { messages: stored(12, 13), pending: 5 };
    expect(judgeRecovery({ offset: 10, epoch: EPOCH }, state(1, 30, 10), read, { subjects: [CHANNEL], window: { maxMessages: 1, maxAgeSeconds: 60 }, now: NOW })).toEqual({
      recovered: false,
      reason: 'window',
    });
  });

  it('judges a user\'s and a device\'s direct messages together, in stream order, each subject by its own count', () => {
    const scope = { subjects: [USER, DEVICE], window: { maxMessages: 3, maxAgeSeconds: 60 }, now: NOW };
    const since = { offset: 10, epoch: EPOCH };
    const mixed = [at(USER, 11), at(DEVICE, 12), at(USER, 13), at(DEVICE, 14)];
    expect(judgeRecovery(since, state(1, 30), all(mixed), scope)).toEqual({ recovered: true, missed: mixed });
    // The position's own message is the device's: the user's subject must still prove it lost nothing.
    const full = [at(DEVICE, 10), at(USER, 11), at(USER, 12), at(USER, 13)];
    expect(judgeRecovery(since, state(1, 30), all(full), scope)).toEqual({ recovered: false, reason: 'window' });
    const deviceFull = [at(DEVICE, 10), at(DEVICE, 11), at(DEVICE, 12), at(USER, 13)];
    expect(judgeRecovery(since, state(1, 30), all(deviceFull), scope)).toEqual({ recovered: true, missed: deviceFull.slice(1) });
  });
});

describe('withinWindow', () => {
  it('keeps a subject\'s newest maxMessages, none older than maxAgeSeconds', () => {
    const read = { messages: [at(CHANNEL, 1, NOW - 9000), at(CHANNEL, 2, NOW - 4000), at(CHANNEL, 3), at(CHANNEL, 4)], pending: 4 };
    expect(withinWindow(read, { maxMessages: 3, maxAgeSeconds: 60 }, NOW).map((m) => m.seq)).toEqual([2, 3, 4]);
    expect(withinWindow(read, { maxMessages: 3, maxAgeSeconds: 2 }, NOW).map((m) => m.seq)).toEqual([3, 4]);
  });
});

describe('epochOf', () => {
  it('is short, and tells apart streams created a nanosecond apart', () => {
    const a = epochOf('2026-11-29T18:58:36.404001362Z');
    expect(a).toMatch(/^[0-9a-z]+\.[0-9a-z]+$/);
    expect(a.length).toBeLessThanOrEqual(14);
    expect(epochOf('2026-11-29T18:58:36.404001363Z')).not.toBe(a);
    expect(epochOf('2026-11-29T18:58:37Z')).not.toBe(epochOf('2026-11-29T18:58:36Z'));
  });
});
