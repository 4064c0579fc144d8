import { describe, expect, it } from 'vitest';
import { MemberDerivation, MessageDerivation, NodeSetDerivation, type Derivation, type LogRecord } from '../src/derive/derivation.js';

const encoder = new TextEncoder();
let seq = 0;
const put = (key: string, value: unknown = {}): LogRecord => ({ seq: ++seq, time: 1000 + seq, key, removed: false, swept: false, data: encoder.encode(JSON.stringify(value)) });
const del = (key: string, swept = false): LogRecord => ({ seq: ++seq, time: 1000 + seq, key, removed: true, swept, data: new Uint8Array() });

const participant = (address: string, state?: unknown) => ({
  channel: 'room 1',
  address,
  identity: address.split('/')[0],
  device: address.split('/')[1],
  node: 'n1',
  instance: 'i1',
  joinedAt: 5,
  ...(state === undefined ? {} : { state }),
});

function run(derivation: Derivation, records: LogRecord[]): string[] {
  return records.flatMap((r) => {
    const e = derivation.apply(r) as Record<string, unknown> | undefined;
    return e ? [`${String(e.type)} ${String(e.user ?? e.channel)}${e.swept === true ? ' swept' : ''}`] : [];
  });
}

describe('MemberDerivation', () => {
  const key = (conn: string) => `acme.live.room_201.n1.${conn}`;

  it('a new key is member_added; a state update is nothing; a delete is member_removed with the last state', () => {
    const d = new MemberDerivation('m1');
    const added = d.apply(put(key('c1'), participant('ann/web/n1-c1', { mic: true })));
    expect(added).toMatchObject({ type: 'member_added', app: 'acme', env: 'live', channel: 'room 1', member: { address: 'ann/web/n1-c1', identity: 'ann', device: 'web', state: { mic: true }, joinedAt: 5 } });
    expect(added!.id).toBe(`m1-${seq}`);
    expect(d.apply(put(key('c1'), participant('ann/web/n1-c1', { mic: false })))).toBeUndefined();
    expect(d.apply(del(key('c1'), true))).toMatchObject({ type: 'member_removed', swept: true, member: { state: { mic: false } } });
  });

  it('ignores a delete of a key it never saw, malformed keys and values, and other environments than test and live', () => {
    const d = new MemberDerivation('m1');
    expect(d.apply(del(key('c9')))).toBeUndefined();
    expect(d.apply(put('acme.live.room', participant('a/b/n1-c')))).toBeUndefined();
    expect(d.apply(put(key('c2'), { not: 'a participant' }))).toBeUndefined();
    expect(d.apply({ ...put(key('c3')), data: encoder.encode('{') })).toBeUndefined();
    expect(d.apply(put('acme.prod.room.n1.c4', participant('a/b/n1-c4')))).toBeUndefined();
  });

  it('resumed from its snapshot, continues exactly as without the restart', () => {
    const records = [put(key('a'), participant('a/w/n1-a')), put(key('b'), participant('b/w/n1-b')), del(key('a')), put(key('c'), participant('c/w/n1-c')), del(key('b')), del(key('c'))];
    const whole = new MemberDerivation('m1');
    const expected = records.map((r) => whole.apply(r));
    for (let cut = 0; cut <= records.length; cut++) {
      const first = new MemberDerivation('m1');
      const before = records.slice(0, cut).map((r) => first.apply(r));
      const resumed = new MemberDerivation('m1', JSON.parse(JSON.stringify(first.snapshot())));
      expect([...before, ...records.slice(cut).map((r) => resumed.apply(r))]).toEqual(expected);
    }
  });
});

describe('NodeSetDerivation', () => {
  const key = (name: string, node: string) => `acme.test.${name}.${node}`;

  it('online at the first node, offline when the last one goes; a second put of one node is nothing', () => {
    const d = new NodeSetDerivation('user', 'u1');
    expect(run(d, [put(key('zo_C3_AB', 'n1')), put(key('zo_C3_AB', 'n2')), put(key('zo_C3_AB', 'n1')), del(key('zo_C3_AB', 'n1')), del(key('zo_C3_AB', 'n1')), del(key('zo_C3_AB', 'n2'), true)])).toEqual([
      'user_online zoë',
      'user_offline zoë swept',
    ]);
  });

  it('occupancy: the same rule, per channel', () => {
    const d = new NodeSetDerivation('channel', 'c1');
    expect(run(d, [put(key('a', 'n1')), put(key('b', 'n1')), del(key('a', 'n1')), put(key('a', 'n2')), del(key('b', 'n1')), del(key('a', 'n2'))])).toEqual([
      'channel_occupied a',
      'channel_occupied b',
      'channel_vacated a',
      'channel_occupied a',
      'channel_vacated b',
      'channel_vacated a',
    ]);
  });

  it('resumed from its snapshot, continues exactly as without the restart', () => {
    const records = [put(key('x', 'n1')), put(key('x', 'n2')), del(key('x', 'n1')), put(key('y', 'n1')), del(key('x', 'n2')), del(key('y', 'n1'))];
    const whole = new NodeSetDerivation('user', 'u1');
    const expected = records.map((r) => whole.apply(r));
    for (let cut = 0; cut <= records.length; cut++) {
      const first = new NodeSetDerivation('user', 'u1');
      const before = records.slice(0, cut).map((r) => first.apply(r));
      const resumed = new NodeSetDerivation('user', 'u1', JSON.parse(JSON.stringify(first.snapshot())));
      expect([...before, ...records.slice(cut).map((r) => resumed.apply(r))]).toEqual(expected);
    }
  });
});

describe('MemberDerivation.hasMemberSince (the hold of channel_vacated)', () => {
  const key = (conn: string) => `acme.live.room_201.n1.${conn}`;

  it('is true while a member added at or before the time is present, also one restored from a snapshot', () => {
    const d = new MemberDerivation('m1');
    const first = put(key('c1'), participant('ann/web/n1-c1'));
    d.apply(first);
    expect(d.hasMemberSince('acme', 'live', 'room 1', first.time)).toBe(true);
    expect(d.hasMemberSince('acme', 'live', 'room 1', first.time - 1)).toBe(false);
    expect(d.hasMemberSince('acme', 'test', 'room 1', first.time)).toBe(false);
    const restored = new MemberDerivation('m1', d.snapshot());
    expect(restored.hasMemberSince('acme', 'live', 'room 1', 0)).toBe(true);
    d.apply(del(key('c1')));
    expect(d.hasMemberSince('acme', 'live', 'room 1', Number.MAX_SAFE_INTEGER)).toBe(false);
  });
});

describe('MessageDerivation', () => {
  const record = (key: string, value: unknown): LogRecord => put(key, value);
  const message = (fields: Record<string, unknown>, channel = 'room 1') => ({
    channel,
    sender: { address: 'ann/web/n1-c1', identity: 'ann', device: 'web', connection: 'n1-c1' },
    fields,
  });

  it('each record is one client_message: the fields as the message, a string `event` repeated', () => {
    const d = new MessageDerivation('k1');
    const r = record('acme.live.room_201', message({ event: 'typing', message: { text: 'hi' } }));
    expect(d.apply(r)).toEqual({
      id: `k1-${r.seq}`,
      type: 'client_message',
      time: r.time,
      app: 'acme',
      env: 'live',
      channel: 'room 1',
      sender: { address: 'ann/web/n1-c1', identity: 'ann', device: 'web', connection: 'n1-c1' },
      event: 'typing',
      message: { event: 'typing', message: { text: 'hi' } },
    });
    expect(d.apply(record('acme.live.room_201', message({ event: 7, text: 'x' })))).not.toHaveProperty('event');
    expect(d.snapshot()).toBeNull();
  });

  it('ignores records whose channel is not their subject’s, malformed ones, and other environments', () => {
    const d = new MessageDerivation('k1');
    expect(d.apply(record('acme.live.room_201', message({}, 'another room')))).toBeUndefined();
    expect(d.apply(record('acme.live.room_201', { channel: 'room 1' }))).toBeUndefined();
    expect(d.apply(record('acme.staging.room_201', message({})))).toBeUndefined();
    expect(d.apply(record('acme.live.room_201.extra', message({})))).toBeUndefined();
  });
});
