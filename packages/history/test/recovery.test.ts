import { describe, expect, it } from 'vitest';
import { epochOf, judgeRecovery, type StoredMessage, type StreamState } from '../src/mod.js';

const EPOCH = '2026-11-29T18:00:00.000000000Z';

function state(firstSeq: number, lastSeq: number, maxPerChannel = 3): StreamState {
  return { stream: 'SIGNAL_HISTORY_a_test', epoch: EPOCH, firstSeq, lastSeq, maxPerChannel };
}

function stored(...seqs: number[]): StoredMessage[] {
  return seqs.map((seq) => ({ seq, storedAt: 0, data: new Uint8Array() }));
}

describe('judgeRecovery', () => {
  it('recovers what follows a position whose own message is still stored', () => {
    const outcome = judgeRecovery({ offset: 10, epoch: EPOCH }, state(1, 20), stored(10, 12, 17));
    expect(outcome).toEqual({ recovered: true, missed: stored(12, 17) });
  });

  it('recovers nothing missed when the position is the channel\'s last message', () => {
    expect(judgeRecovery({ offset: 10, epoch: EPOCH }, state(5, 30), stored(10))).toEqual({ recovered: true, missed: [] });
  });

  it('recovers from a join position (not a message of the channel) while nothing after it aged out and fewer than the window came', () => {
    expect(judgeRecovery({ offset: 10, epoch: EPOCH }, state(11, 30), stored(14, 18))).toEqual({ recovered: true, missed: stored(14, 18) });
    // An empty stream that went on from the position: nothing was published at all.
    expect(judgeRecovery({ offset: 30, epoch: EPOCH }, state(31, 30), [])).toEqual({ recovered: true, missed: [] });
  });

  it('is not recovered when messages after the position may have aged out', () => {
    expect(judgeRecovery({ offset: 10, epoch: EPOCH }, state(12, 30), stored(14))).toEqual({ recovered: false, reason: 'window' });
  });

  it('is not recovered when the channel holds a full window after the position (some may have been pushed out)', () => {
    expect(judgeRecovery({ offset: 10, epoch: EPOCH }, state(1, 30), stored(14, 15, 16))).toEqual({ recovered: false, reason: 'window' });
  });

  it('is not recovered from another epoch, or from beyond the stream\'s end', () => {
    expect(judgeRecovery({ offset: 10, epoch: 'other' }, state(1, 30), stored(10, 12))).toEqual({ recovered: false, reason: 'epoch' });
    expect(judgeRecovery({ offset: 31, epoch: EPOCH }, state(1, 30), [])).toEqual({ recovered: false, reason: 'epoch' });
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
