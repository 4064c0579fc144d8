import { describe, expect, it } from 'vitest';
import { rpcResult } from '../src/surfaces/jsonrpc/errors.js';
import { notification, renderJoinResult, renderWelcome } from '../src/surfaces/jsonrpc/render.js';

/** What a presence newcomer is sent, rendered from kept per-participant JSON, is what rendering it afresh gives. */
const ann = { address: 'ann/web/n1-1', identity: 'ann', device: 'web', joinedAt: 1, state: { mic: true, name: 'Ann "A"' } };
const bob = { address: 'bob/app/n2-7', identity: 'bob', device: 'app', joinedAt: 2 };
const cy = { address: 'cy/web/n1-3', identity: 'cy', device: 'web', joinedAt: 3, state: { name: 'Çy ☃ 🎧' } };

describe('presence join rendering', () => {
  it('renders the join result byte for byte as rpcResult, with and without other fields', () => {
    for (const [id, result] of [
      [7, { id: 'room', participants: [ann, bob] }],
      [9, { id: 'room', participants: [ann, bob, cy] }],
      ['x', { id: 'room', participants: [] }],
      [null, { id: 'røøm', participants: [bob], position: { offset: 3, epoch: 'e' }, recovered: true }],
      [8, { id: 'room', participants: [ann], occupancy: { connections: 2, participants: 1 } }],
    ] as const) {
      // Twice: the second time from what was kept.
      expect(renderJoinResult(id, result)).toBe(rpcResult(id, result));
      expect(renderJoinResult(id, result)).toBe(rpcResult(id, result));
    }
  });

  it('renders join_back and state frames as before, again from what was kept', () => {
    const expected = [
      notification('signal.join_back', { from: ann.address, id: 'room' }),
      notification('signal.send', { from: ann.address, id: 'room', state: ann.state }),
      notification('signal.join_back', { from: bob.address, id: 'room' }),
    ];
    expect(renderWelcome('room', [ann, bob])).toEqual(expected);
    expect(renderWelcome('room', [ann, bob])).toEqual(expected);
    // The same object in another channel is rendered for that channel.
    expect(renderWelcome('hall', [bob])).toEqual([notification('signal.join_back', { from: bob.address, id: 'hall' })]);
  });
});
