import { describe, expect, it } from 'vitest';
import { ClientAddresses, parseTrustedProxies } from '../src/limits/client-address.js';
import { TokenBucket } from '../src/limits/token-bucket.js';

describe('TokenBucket', () => {
  it('gives its burst at once, then refills at its rate from the clock', () => {
    const bucket = new TokenBucket(5, 3, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([true, true, true, false]);
    expect(bucket.take(100)).toBe(false); // half a token
    expect(bucket.take(200)).toBe(true); // one token at 5 per second
    expect(bucket.take(200)).toBe(false);
  });

  it('never holds more than its burst, however long it waited', () => {
    const bucket = new TokenBucket(1000, 2, 0);
    expect([bucket.take(60_000), bucket.take(60_000), bucket.take(60_000)]).toEqual([true, true, false]);
  });
});

describe('ClientAddresses', () => {
  it('without trusted proxies takes the peer and ignores X-Forwarded-For', () => {
    const addresses = new ClientAddresses('');
    expect(addresses.readsForwardedFor).toBe(false);
    expect(addresses.clientOf('127.0.0.1', ['6.6.6.6'])).toBe('127.0.0.1');
  });

  it('behind a trusted proxy takes the right-most hop that is not trusted', () => {
    const addresses = new ClientAddresses('10.0.0.0/8, 192.168.1.5');
    expect(addresses.clientOf('10.1.2.3', ['203.0.113.7'])).toBe('203.0.113.7');
    // The client wrote the left part itself; the proxy appended what it saw.
    expect(addresses.clientOf('10.1.2.3', ['6.6.6.6, 203.0.113.7'])).toBe('203.0.113.7');
    expect(addresses.clientOf('10.1.2.3', ['6.6.6.6', '203.0.113.7, 192.168.1.5'])).toBe('203.0.113.7');
    // A peer that is not a trusted proxy: its header proves nothing.
    expect(addresses.clientOf('198.51.100.1', ['203.0.113.7'])).toBe('198.51.100.1');
    // Only trusted hops: the left-most of them.
    expect(addresses.clientOf('10.1.2.3', ['10.9.9.9'])).toBe('10.9.9.9');
    // No header: the proxy itself.
    expect(addresses.clientOf('10.1.2.3', [])).toBe('10.1.2.3');
    // A malformed hop stops the walk at the last trusted one.
    expect(addresses.clientOf('10.1.2.3', ['203.0.113.7, not-an-ip'])).toBe('10.1.2.3');
  });

  it('reads IPv6 and IPv4-mapped addresses', () => {
    const addresses = new ClientAddresses('fd00::/8,127.0.0.1');
    expect(addresses.clientOf('fd00::1', ['2001:db8::7'])).toBe('2001:db8::7');
    expect(addresses.clientOf('::ffff:127.0.0.1', ['[2001:db8::8]'])).toBe('2001:db8::8');
  });

  it('refuses a setting that is not IPs and CIDRs, naming the entry', () => {
    for (const bad of ['10.0.0.0/33', 'proxy.local', '10.0.0.1/8/1', 'fd00::/129', '10.0.0.0/x']) {
      expect(() => parseTrustedProxies(bad), bad).toThrow(/is not an IP address or CIDR range/);
    }
    expect(parseTrustedProxies(' , ')).toBeUndefined();
  });
});
