import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bit6Client } from '../support/bit6-client.js';
import { INSPECTABLE, holdMainThread } from '../support/hold-main-thread.js';
import { addressesIn, bit6, bucketEntriesOfNode, native, nodeRecord } from '../support/presence.js';
import { passes } from '../support/poll.js';
import { startStack, type Stack } from '../support/stack.js';

function identityOf(address: string): string {
  return address.split('/')[0]!;
}

/**
 * The default timing (beats every 250 ms, 1 s node timeout) must deliver leaves within this of
 * a SIGKILL: detection after 1-1.25 s, then one claim, one read and the removals (docs/presence.md).
 */
const LEAVE_TARGET_MS = 2000;

describe('a gateway killed with participants on it (Bit6 case 7)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ gateways: 2 });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('others get leave events within the target, its entries are gone, and a client rejoins elsewhere', async () => {
    const doomed = String(stack.gateways[1]!.ready.node);
    const a = await bit6(stack, 'anna', 'web1', 0);
    const n = await native(stack, 'nina', 'app', 0);
    const b = await bit6(stack, 'bert', 'web1', 1);
    const m = await native(stack, 'mona', 'app', 1);
    const roomA = a.join('room', { presence: true });
    await n.call('signal.join', { id: 'room', presence: true });
    await n.call('signal.join', { id: 'side', presence: true });
    b.join('room', { presence: true }).updateState({ away: false });
    await m.call('signal.join', { id: 'room', presence: true, state: { v: 1 } });
    await m.call('signal.join', { id: 'side', presence: true });
    await a.until(() => roomA.participants.size === 3, () => roomA.events);
    expect(await addressesIn(stack, 'room')).toHaveLength(4);
    expect(await bucketEntriesOfNode(stack, doomed)).toHaveLength(3);
    const bAddress = [...roomA.participants.keys()].find((k) => k.startsWith('bert/'))!;

    const killedAt = Date.now();
    await stack.gateways[1]!.kill();

    await a.until(() => roomA.participants.size === 1, () => roomA.events, LEAVE_TARGET_MS + 5000);
    expect(Date.now() - killedAt).toBeLessThan(LEAVE_TARGET_MS);
    const left = roomA.events.flatMap((e) => (e.type === 'participant' && e.op === -1 ? [e.from] : []));
    expect(left.sort()).toEqual(
      [bAddress, m.address].sort(),
    );
    const leaves = await passes(() => {
      const got = n.received('signal.leave').map((f) => f.params);
      expect(got).toHaveLength(3);
      return got;
    }, LEAVE_TARGET_MS);
    expect(Date.now() - killedAt).toBeLessThan(LEAVE_TARGET_MS);
    expect(leaves).toEqual(
      expect.arrayContaining([
        { from: bAddress, id: 'room' },
        { from: m.address, id: 'room' },
        { from: m.address, id: 'side' },
      ]),
    );
    expect(await bucketEntriesOfNode(stack, doomed)).toEqual([]);
    expect((await addressesIn(stack, 'room')).map(identityOf)).toEqual(['anna', 'nina']);
    expect(await addressesIn(stack, 'side')).toEqual([n.address]);

    // B's SDK reconnects (to the live node) and the app joins again.
    const back = await bit6(stack, 'bert', 'web1', 0);
    const roomBack = back.join('room', { presence: true });
    await back.until(() => roomBack.participants.size === 2, () => roomBack.events);
    expect([...roomBack.participants.keys()].map(identityOf).sort()).toEqual(['anna', 'nina']);
    await a.until(() => [...roomA.participants.keys()].some((k) => k.startsWith('bert/')), () => roomA.events);
    for (const c of [a, back] as Bit6Client[]) c.close();
    n.close();
  });
});

describe('a gateway frozen past the timeout, then resumed', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ gateways: 2 });
  });
  afterAll(async () => {
    try {
      process.kill(stack.gateways[1]!.pid, 'SIGCONT');
    } catch {
      // already gone
    }
    await stack?.stop();
  });

  it('is swept like a dead one, then announces its still-connected participants again', async () => {
    const frozen = stack.gateways[1]!;
    const a = await native(stack, 'anna', 'app', 0);
    const f = await native(stack, 'fred', 'app', 1);
    const g = await bit6(stack, 'gina', 'web1', 1);
    await a.call('signal.join', { id: 'hall', presence: true });
    await f.call('signal.join', { id: 'hall', presence: true, state: { busy: true } });
    const hallG = g.join('hall', { presence: true });
    await g.until(() => hallG.participants.size === 2, () => hallG.events);
    const gAddress = (await a.next((f2) => f2.method === 'signal.join' && String(f2.params?.from).startsWith('gina/'))).params!.from as string;

    process.kill(frozen.pid, 'SIGSTOP');
    const frozenAt = Date.now();
    const gone = await passes(() => {
      const got = a.received('signal.leave').map((x) => x.params!.from);
      expect(got.sort()).toEqual([f.address, gAddress].sort());
      return Date.now() - frozenAt;
    }, LEAVE_TARGET_MS + 5000);
    expect(gone).toBeLessThan(LEAVE_TARGET_MS);
    expect((await addressesIn(stack, 'hall')).map(identityOf)).toEqual(['anna']);

    process.kill(frozen.pid, 'SIGCONT');
    await passes(async () => expect((await addressesIn(stack, 'hall')).map(identityOf)).toEqual(['anna', 'fred', 'gina']));
    const rejoined = await a.next((x) => x.method === 'signal.join' && x.params?.from === f.address);
    expect(rejoined.params).toMatchObject({ from: f.address, id: 'hall', state: { busy: true } });
    await a.next((x) => x.method === 'signal.join' && x.params?.from === gAddress);
    // Their connections never dropped: they still publish and receive.
    await f.call('signal.publish', { id: 'hall', text: 'back' });
    expect((await a.next((x) => x.method === 'signal.publish' && x.params?.text === 'back')).params!.from).toBe(f.address);
    await a.call('signal.publish', { id: 'hall', text: 'welcome back' });
    await g.until(() => hallG.events.some((e) => e.type === 'message' && e.params.text === 'welcome back'), () => hallG.events);
    // G's view went through the same leave and join as everyone else's, and ends the same.
    await g.until(() => hallG.participants.size === 2 && hallG.participants.has(f.address), () => hallG.events);
    expect(frozen.lines().some((l) => l.includes('announcing its participants again'))).toBe(true);
    for (const c of [a, f]) c.close();
    g.close();
  });
});

describe('a gateway whose main thread is busy', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ gateways: 2, gatewayEnv: INSPECTABLE });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('is not swept while its main thread is held for 3 s with the default timing (its beat worker goes on)', async () => {
    const busy = stack.gateways[1]!;
    const busyNode = String(busy.ready.node);
    const a = await native(stack, 'anna', 'app', 0);
    const b = await native(stack, 'bert', 'app', 1);
    await b.call('signal.join', { id: 'lobby', presence: true });
    await a.call('signal.join', { id: 'lobby', presence: true });
    const before = (await nodeRecord(stack, busyNode))!;

    await holdMainThread(busy, 3000);
    // Its next heartbeat after the hold moves its record on as the same instance, unclaimed: a
    // claim during the hold would have made that compare-and-set fail (and a new instance register).
    const after = await passes(async () => {
      const now = (await nodeRecord(stack, busyNode))!;
      expect(now.revision).toBeGreaterThan(before.revision);
      return now;
    });
    expect(after.record).toMatchObject({ instance: before.record.instance });
    expect(after.record.sweptBy).toBeUndefined();
    expect(a.received('signal.leave')).toEqual([]);
    expect(stack.gateways[0]!.lines().some((l) => l.includes('swept a dead gateway node'))).toBe(false);
    expect(busy.lines().some((l) => l.includes('declared dead and swept'))).toBe(false);
    // Its participant is still there, for everyone.
    await b.call('signal.publish', { id: 'lobby', text: 'still here' });
    expect((await a.next((f) => f.method === 'signal.publish' && f.params?.text === 'still here')).params!.from).toBe(b.address);
    expect((await addressesIn(stack, 'lobby')).sort()).toEqual([a.address, b.address].sort());
    a.close();
    b.close();
  });
});

describe('a gateway whose main thread is held past PRESENCE_MAX_STALL_MS', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ gateways: 2, gatewayEnv: { ...INSPECTABLE, PRESENCE_MAX_STALL_MS: '1000' } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('stops beating, is swept like a dead one, then announces its participants again', async () => {
    const stuck = stack.gateways[1]!;
    const a = await native(stack, 'anna', 'app', 0);
    const b = await native(stack, 'bert', 'app', 1);
    await b.call('signal.join', { id: 'lobby', presence: true, state: { v: 1 } });
    await a.call('signal.join', { id: 'lobby', presence: true });

    const held = holdMainThread(stuck, 4000);
    // Swept during the hold: the beat worker gave up on the main thread after 1 s.
    expect((await a.next((f) => f.method === 'signal.leave', 4000)).params).toEqual({ from: b.address, id: 'lobby' });
    await held;
    expect((await a.next((f) => f.method === 'signal.join' && f.params?.from === b.address)).params).toMatchObject({ id: 'lobby', state: { v: 1 } });
    await passes(async () => expect((await addressesIn(stack, 'lobby')).sort()).toEqual([a.address, b.address].sort()));
    expect(stuck.lines().some((l) => l.includes('main thread stalled past PRESENCE_MAX_STALL_MS'))).toBe(true);
    a.close();
    b.close();
  });
});
