import { describe, expect, it } from 'vitest';
import { jetStreamDelivery } from '../src/subjects/jetstream-delivery.js';

const ts = '1764470000123456789';

describe('jetStreamDelivery', () => {
  it('reads the old and the newer reply forms', () => {
    expect(jetStreamDelivery(`$JS.ACK.KV_signal_presence.abc123.1.42.7.${ts}.9`)).toEqual({ sequence: 42, delivered: 7, pending: 9, storedAt: 1764470000123 });
    // Newer form: domain and account hash after ACK, and a trailing random token.
    expect(jetStreamDelivery(`$JS.ACK.hub.ACCHASH.KV_b.cons.3.1001.500.${ts}.0.r4nd0m`)).toEqual({ sequence: 1001, delivered: 500, pending: 0, storedAt: 1764470000123 });
    expect(jetStreamDelivery(`$JS.ACK._.ACCHASH.KV_b.cons.3.1001.500.${ts}.12`)).toEqual({ sequence: 1001, delivered: 500, pending: 12, storedAt: 1764470000123 });
  });

  it('gives the same answer call after call (nothing left over from the reply before)', () => {
    const long = jetStreamDelivery(`$JS.ACK.hub.ACCHASH.KV_b.cons.3.1001.500.${ts}.0.r4nd0m`);
    const short = jetStreamDelivery(`$JS.ACK.S.C.1.2.3.${ts}.4`);
    expect(short).toEqual({ sequence: 2, delivered: 3, pending: 4, storedAt: 1764470000123 });
    expect(jetStreamDelivery(`$JS.ACK.hub.ACCHASH.KV_b.cons.3.1001.500.${ts}.0.r4nd0m`)).toEqual(long);
  });

  it('refuses anything that is not a delivery reply', () => {
    for (const reply of [
      undefined,
      '',
      '_INBOX.abc',
      '$JS.ACK',
      '$JS.ACK.',
      '$JS.ACKX.S.C.1.2.3.4.5',
      '$JS.API.S.C.1.2.3.4.5',
      '$JS.ACK.S.C.1.2.3.4', // 8 tokens
      '$JS.ACK.S.C.1.2.3.4.5.6', // 10 tokens
      '$JS.ACK.S.C.1.x.3.4.5', // not a number
      '$JS.ACK.S.C.1..3.4.5', // empty
      '$JS.ACK.S.C.1.-2.3.4.5',
      '$JS.ACK.S.C.1.2.3e2.4.5',
      '$JS.ACK.S.C.1. 2.3.4.5',
      '$JS.ACK.S.C.1.2.3.4.0x5',
      '$JS.ACK.S.C.1.99999999999999999999.3.4.5', // past 2^53
      '$JS.ACK.S.C.1.2.3.ts.5',
    ]) {
      expect(jetStreamDelivery(reply), String(reply)).toBeUndefined();
    }
  });

  it('reads a reply with more tokens than any server sends without reading past what it kept', () => {
    expect(jetStreamDelivery(`$JS.ACK.a.b.c.d.1.2.3.${ts}.4.x.y.z.w`)).toEqual({ sequence: 2, delivered: 3, pending: 4, storedAt: 1764470000123 });
  });
});
