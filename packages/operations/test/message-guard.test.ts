import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MessageGuard, type DropReason } from '../src/mod.js';

function setup() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  const counted: string[] = [];
  let now = 0;
  const guard = new MessageGuard({
    log,
    count: (source: string, reason: DropReason) => counted.push(`${source}:${reason}`),
    logEveryMs: 10_000,
    now: () => now,
  });
  return { guard, lines, counted, advance: (ms: number) => (now += ms) };
}

describe('MessageGuard', () => {
  it('drops a message whose handler throws, counts it, and keeps the handler serving the next', () => {
    const { guard, counted } = setup();
    const seen: string[] = [];
    const handler = guard.wrap('subject', (payload: string) => {
      if (payload === 'poison') throw new RangeError('Maximum call stack size exceeded');
      seen.push(payload);
    });
    expect(() => handler('poison')).not.toThrow();
    handler('next');
    expect(seen).toEqual(['next']);
    expect(counted).toEqual(['subject:failed']);
  });

  it('runs parts of one message independently: a failing part does not stop the others', () => {
    const { guard, counted } = setup();
    const done: string[] = [];
    const results = ['a', 'b', 'c'].map((part) =>
      guard.run('subject', () => {
        if (part === 'b') throw new Error('render failed');
        done.push(part);
      }),
    );
    expect(results).toEqual([true, false, true]);
    expect(done).toEqual(['a', 'c']);
    expect(counted).toEqual(['subject:failed']);
  });

  it('logs at most one line per source per interval, with the count dropped since the last line', () => {
    const { guard, lines, counted, advance } = setup();
    guard.drop('subject', 'invalid');
    for (let i = 0; i < 5; i++) guard.drop('subject', 'failed', new Error(`boom ${i}`));
    guard.drop('connection', 'invalid');
    expect(counted).toHaveLength(7);
    expect(lines.map((l) => [l.source, l.dropped])).toEqual([
      ['subject', 1],
      ['connection', 1],
    ]);
    advance(9_999);
    guard.drop('subject', 'failed', new Error('still within the interval'));
    expect(lines).toHaveLength(2);
    advance(1);
    guard.drop('subject', 'failed', new Error('after the interval'));
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatchObject({ level: 40, source: 'subject', reason: 'failed', dropped: 7, error: { name: 'Error', message: 'after the interval' } });
  });
});
