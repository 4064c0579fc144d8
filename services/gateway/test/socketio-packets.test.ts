import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EngineProtocolError, parseEnginePacket } from '../src/surfaces/socketio/engine-packets.js';
import { createStelaceSurface, renderStelaceEvent } from '../src/surfaces/socketio/render.js';
import { PACKET, SocketProtocolError, parseSocketPacket } from '../src/surfaces/socketio/socket-packets.js';

/** Anything a client can put in a text frame either parses or is refused with a protocol error; nothing else escapes. */
const frames = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.tuple(fc.constantFrom('0', '1', '2', '3', '4', '5', '6', '9'), fc.constantFrom('', '/signal,', '/signal', '/', '/x?y=1,'), fc.string({ maxLength: 6, unit: fc.constantFrom('0', '1', '9') }), fc.json()).map((parts) => parts.join('')),
);

describe('Socket.IO packet parsing', () => {
  it('never throws anything but a protocol error', () => {
    fc.assert(
      fc.property(frames, (frame) => {
        try {
          parseEnginePacket(frame);
        } catch (error) {
          expect(error).toBeInstanceOf(EngineProtocolError);
        }
        try {
          parseSocketPacket(frame, 32);
        } catch (error) {
          expect(error).toBeInstanceOf(SocketProtocolError);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('reads what socket.io clients 2.x and 4.x send', () => {
    expect(parseSocketPacket('0/signal,', 32)).toEqual({ type: PACKET.connect, nsp: '/signal', data: undefined });
    expect(parseSocketPacket('0/signal?token=1,', 32)).toEqual({ type: PACKET.connect, nsp: '/signal', data: undefined });
    expect(parseSocketPacket('0/signal,{"token":"x"}', 32)).toEqual({ type: PACKET.connect, nsp: '/signal', data: { token: 'x' } });
    expect(parseSocketPacket('3/signal,0[{"publishableKey":"k"}]', 32)).toEqual({ type: PACKET.ack, nsp: '/signal', id: 0, data: [{ publishableKey: 'k' }] });
    expect(parseSocketPacket('2/signal,12["e",1]', 32)).toEqual({ type: PACKET.event, nsp: '/signal', id: 12, data: ['e', 1] });
    expect(parseSocketPacket('1/signal,', 32)).toEqual({ type: PACKET.disconnect, nsp: '/signal' });
    expect(parseSocketPacket('0', 32)).toEqual({ type: PACKET.connect, nsp: '/', data: undefined });
  });

  it('refuses data nested deeper than MAX_JSON_DEPTH, naming the limit, before parsing it', () => {
    // `["e",[[1]]]` is 3 levels deep.
    const event = (depth: number) => `2/signal,["e",${'['.repeat(depth - 1)}1${']'.repeat(depth - 1)}]`;
    expect(parseSocketPacket(event(4), 4)).toMatchObject({ type: PACKET.event, data: ['e', [[[1]]]] });
    expect(() => parseSocketPacket(event(5), 4)).toThrow(expect.objectContaining({ limit: 'max_json_depth' }));
    expect(() => parseSocketPacket('3/signal,0[{"a":[[{}]]}]', 4)).toThrow(/nested deeper than 4 levels .*\(MAX_JSON_DEPTH\)/);
    const deep = `2/signal,["e",${'['.repeat(10_000)}${']'.repeat(10_000)}]`;
    expect(() => parseSocketPacket(deep, 32)).toThrow(SocketProtocolError);
  });
});

describe('rendering signals for Stelace sockets', () => {
  const scope = { app: 'a', env: 'live' as const };

  it('renders emit API signals as exactly { message, event, env }', () => {
    expect(renderStelaceEvent({ t: 'publish', ch: 'c', fields: { event: 'chat', message: { x: 1 } } }, scope)).toBe(
      '42/signal,["chat",{"message":{"x":1},"event":"chat","env":"live"}]',
    );
    expect(renderStelaceEvent({ t: 'send', fields: { event: 'signal' } }, scope)).toBe('42/signal,["signal",{"event":"signal","env":"live"}]');
  });

  it('wraps other content as the message and names the sender', () => {
    expect(renderStelaceEvent({ t: 'publish', ch: 'c', from: 'u/d/r', fields: { text: 'hi' } }, scope)).toBe(
      '42/signal,["signal",{"message":{"text":"hi"},"event":"signal","env":"live","from":"u/d/r","channel":"c"}]',
    );
    expect(renderStelaceEvent({ t: 'send', from: 'u/d/r', fields: { event: 'e', message: 1, extra: true } }, scope)).toBe(
      '42/signal,["e",{"message":{"message":1,"extra":true},"event":"e","env":"live","from":"u/d/r"}]',
    );
  });

  it('does not deliver reserved or non-string events, nor presence', () => {
    expect(renderStelaceEvent({ t: 'publish', ch: 'c', fields: { event: 'disconnect' } }, scope)).toBeUndefined();
    expect(renderStelaceEvent({ t: 'publish', ch: 'c', fields: { event: 3 } }, scope)).toBeUndefined();
    expect(renderStelaceEvent({ t: 'join', ch: 'c', from: 'u/d/r' }, scope)).toBeUndefined();
  });

  it('shows client messages only to environments that opted in', () => {
    const fromClient = { t: 'send', from: 'u/d/r', fields: { event: 'orderPaid', message: { amount: 0 } } } as const;
    const fromBackend = { t: 'send', fields: { event: 'orderPaid', message: { amount: 0 } } } as const;
    const surface = createStelaceSurface((s) => s.env === 'test');
    expect(surface.render(fromClient, scope)).toBeUndefined();
    expect(surface.render({ t: 'publish', ch: 'c', from: 'u/d/r', fields: { text: 'hi' } }, scope)).toBeUndefined();
    expect(surface.render(fromBackend, scope)).toBe(renderStelaceEvent(fromBackend, scope));
    const optedIn = { app: 'a', env: 'test' as const };
    expect(surface.render(fromClient, optedIn)).toBe(renderStelaceEvent(fromClient, optedIn));
  });
});
