import { describe, expect, it } from 'vitest';
import type { ChannelRecord, StoredParticipant } from '@signal/presence';
import { ChannelView } from '../src/presence/channel-view.js';

/**
 * The ordering rules of a node's channel view, event by event: these are the races that a
 * cluster produces rarely and at random, played here in the exact bad order.
 */
const scope = { app: 'acme', env: 'test' as const };
const P = 'pat/web/node1-1';
const Q = 'quin/app/node2-7';

function stored(address: string, revision: number, state?: unknown): StoredParticipant {
  const [identity = '', device = '', route = ''] = address.split('/');
  const [node = '', conn = ''] = route.split('-');
  return {
    key: `acme.test.room.${node}.${conn}`,
    revision,
    channel: 'room',
    address,
    identity,
    device,
    node,
    instance: 'i1',
    joinedAt: 1000 + revision,
    ...(state === undefined ? {} : { state }),
  };
}

const present = (address: string, revision: number, state?: unknown): ChannelRecord => ({ present: true, participant: stored(address, revision, state) });
const removed = (address: string, revision: number): ChannelRecord => ({ present: false, key: stored(address, 0).key, revision });

describe('ChannelView', () => {
  it('delivers a join once, however often it arrives', () => {
    const view = new ChannelView(scope, 'room');
    const join = { t: 'join' as const, ch: 'room', from: P, rev: 5, at: 1 };
    expect(view.accept(join)).toEqual(join);
    expect(view.accept(join)).toBeUndefined();
    expect(view.participants().map((p) => p.address)).toEqual([P]);
  });

  it('ignores a join that arrives after the leave that followed it', () => {
    const view = new ChannelView(scope, 'room');
    expect(view.accept({ t: 'leave', ch: 'room', from: P, rev: 9 })).toBeUndefined(); // never seen: nobody to tell
    expect(view.accept({ t: 'join', ch: 'room', from: P, rev: 5 })).toBeUndefined();
    expect(view.participants()).toEqual([]);
  });

  it('does not bring back someone who left while a newcomer was reading the store', () => {
    const view = new ChannelView(scope, 'room');
    view.accept({ t: 'join', ch: 'room', from: P, rev: 5 });
    expect(view.accept({ t: 'leave', ch: 'room', from: P, rev: 8 })).toMatchObject({ t: 'leave', from: P });
    // The read started before the leave, so it still shows P at revision 5.
    expect(view.merge([present(P, 5)])).toEqual([]);
    expect(view.participants()).toEqual([]);
  });

  it('catches local participants up with what the store knows and the events do not yet', () => {
    const view = new ChannelView(scope, 'room');
    view.accept({ t: 'join', ch: 'room', from: P, rev: 5 });
    const catchUp = view.merge([present(P, 7, { s: 2 }), present(Q, 6, { mic: true }), removed('gone/web/node3-1', 4)]);
    expect(catchUp).toEqual([
      { t: 'publish', ch: 'room', from: P, fields: { state: { s: 2 } }, rev: 7 },
      { t: 'join', ch: 'room', from: Q, rev: 6, at: 1006, state: { mic: true } },
    ]);
    // The events for what the store already showed arrive later, and are not delivered twice.
    expect(view.accept({ t: 'publish', ch: 'room', from: P, fields: { state: { s: 2 } }, rev: 7 })).toBeUndefined();
    expect(view.accept({ t: 'join', ch: 'room', from: Q, rev: 6 })).toBeUndefined();
    expect(view.participants()).toEqual([
      { address: Q, identity: 'quin', device: 'app', joinedAt: 1006, state: { mic: true } },
      { address: P, identity: 'pat', device: 'web', joinedAt: 1007, state: { s: 2 } },
    ]);
  });

  it('tells local participants about a leave found in the store', () => {
    const view = new ChannelView(scope, 'room');
    view.accept({ t: 'join', ch: 'room', from: P, rev: 5 });
    expect(view.merge([removed(P, 9)])).toEqual([{ t: 'leave', ch: 'room', from: P, rev: 9 }]);
    expect(view.accept({ t: 'leave', ch: 'room', from: P, rev: 9 })).toBeUndefined();
  });

  it('keeps the newest state, and still delivers the rest of a message whose state is old', () => {
    const view = new ChannelView(scope, 'room');
    view.accept({ t: 'join', ch: 'room', from: P, rev: 5 });
    expect(view.accept({ t: 'publish', ch: 'room', from: P, fields: { state: 2 }, rev: 7 })).toMatchObject({ fields: { state: 2 } });
    expect(view.accept({ t: 'publish', ch: 'room', from: P, fields: { state: 1 }, rev: 6 })).toBeUndefined();
    expect(view.accept({ t: 'publish', ch: 'room', from: P, fields: { state: 1, text: 'hi' }, rev: 6 })).toEqual({
      t: 'publish',
      ch: 'room',
      from: P,
      fields: { text: 'hi' },
    });
    expect(view.participants()[0]!.state).toBe(2);
    // Plain messages and emit-API signals pass untouched.
    const plain = { t: 'publish' as const, ch: 'room', fields: { event: 'x' } };
    expect(view.accept(plain)).toBe(plain);
  });

  it('counts participants without the asker and forgets old tombstones only', () => {
    let now = 0;
    const view = new ChannelView(scope, 'room', () => now);
    view.accept({ t: 'join', ch: 'room', from: P, rev: 5 });
    view.accept({ t: 'join', ch: 'room', from: Q, rev: 6 });
    expect(view.count()).toBe(2);
    expect(view.count('node1-1')).toBe(1);
    view.accept({ t: 'leave', ch: 'room', from: Q, rev: 8 });
    now = 10_000;
    view.prune(60_000);
    expect(view.accept({ t: 'join', ch: 'room', from: Q, rev: 6 })).toBeUndefined();
    now = 100_000;
    view.prune(60_000);
    expect(view.count()).toBe(1);
  });

  it('hands out one object per participant until its state changes, and lists in joining order', () => {
    const view = new ChannelView(scope, 'room');
    view.accept({ t: 'join', ch: 'room', from: Q, rev: 6, at: 20 });
    view.accept({ t: 'join', ch: 'room', from: P, rev: 5, at: 10 });
    const first = view.participants();
    expect(first.map((p) => p.address)).toEqual([P, Q]);
    const again = view.participants();
    expect(again).not.toBe(first);
    expect(again[0]).toBe(first[0]);
    expect(again[1]).toBe(first[1]);
    expect(view.participants('node1-1')).toEqual([first[1]]);
    // A state update replaces the object (surfaces keep what they rendered of the old one); the others stay.
    view.accept({ t: 'publish', ch: 'room', from: P, fields: { state: { on: true } }, rev: 9 });
    const updated = view.participants();
    expect(updated[0]).not.toBe(first[0]);
    expect(updated[0]).toEqual({ address: P, identity: 'pat', device: 'web', joinedAt: 10, state: { on: true } });
    expect(updated[1]).toBe(first[1]);
    expect(first[0]).toEqual({ address: P, identity: 'pat', device: 'web', joinedAt: 10 });
    // The store's records do the same: a new state is a new object, a leave takes it out.
    view.merge([present(Q, 12, 'away')]);
    expect(view.participants()[1]).toMatchObject({ address: Q, state: 'away' });
    view.merge([removed(P, 13)]);
    expect(view.participants().map((p) => p.address)).toEqual([Q]);
    expect(view.count()).toBe(1);
  });

  it('lists exactly who is present in a churned channel: leaves by event and by store, rejoins, tombstones kept', () => {
    const view = new ChannelView(scope, 'room');
    const address = (n: number) => `u${n}/web/node3-${n}`;
    // 300 connections join; two of every three leave, half by event, half by the store's marker.
    for (let n = 0; n < 300; n++) view.accept({ t: 'join', ch: 'room', from: address(n), rev: 1000 + n, at: n });
    for (let n = 0; n < 300; n++) {
      if (n % 3 === 0) continue;
      if (n % 2 === 0) view.accept({ t: 'leave', ch: 'room', from: address(n), rev: 2000 + n });
      else view.merge([removed(address(n), 2000 + n)]);
    }
    // Ten of those who left come back (new revisions, later join times), one of them twice.
    for (let n = 1; n <= 10; n++) view.accept({ t: 'join', ch: 'room', from: address(3 * n - 1), rev: 3000 + n, at: 1000 + n });
    view.accept({ t: 'join', ch: 'room', from: address(2), rev: 3000, at: 999 });
    const stayed = Array.from({ length: 100 }, (_, k) => address(3 * k));
    const back = Array.from({ length: 10 }, (_, k) => address(3 * (k + 1) - 1));
    expect(view.participants().map((p) => p.address)).toEqual([...stayed, ...back]);
    expect(view.count()).toBe(110);
    expect(view.count('node3-0')).toBe(109);
    expect(view.participants('node3-0')).toHaveLength(109);
    // A tombstone still outranks a late join from before the leave.
    expect(view.accept({ t: 'join', ch: 'room', from: address(1), rev: 1001, at: 1 })).toBeUndefined();
    expect(view.count()).toBe(110);
  });
});
