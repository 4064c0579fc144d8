import { BlockList, isIP } from 'node:net';

/**
 * Who a connection comes from. Without trusted proxies it is the socket's peer; behind
 * proxies listed in TRUSTED_PROXIES it is the right-most X-Forwarded-For hop that is not one
 * of them (hops left of it were written by the client and prove nothing).
 */
export class ClientAddresses {
  private readonly trusted: BlockList | undefined;

  constructor(trustedProxies: string) {
    this.trusted = parseTrustedProxies(trustedProxies);
  }

  /** Whether X-Forwarded-For is read at all (reading headers costs a little per upgrade). */
  get readsForwardedFor(): boolean {
    return this.trusted !== undefined;
  }

  /** `forwardedFor`: every X-Forwarded-For header of the request, in the order received. */
  clientOf(peer: string, forwardedFor: readonly string[]): string {
    let client = normalize(peer) ?? peer;
    if (!this.isTrusted(client)) return client;
    const hops = forwardedFor.flatMap((header) => header.split(','));
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = normalize(hops[i]!.trim());
      // A malformed hop: the trusted proxy to its right is the last address anyone vouches for.
      if (hop === undefined) return client;
      client = hop;
      if (!this.isTrusted(hop)) return hop;
    }
    return client;
  }

  private isTrusted(ip: string): boolean {
    const family = isIP(ip);
    return this.trusted !== undefined && family !== 0 && this.trusted.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  }
}

/** Undefined for an empty list; throws naming the first entry that is not an IP or CIDR. */
export function parseTrustedProxies(spec: string): BlockList | undefined {
  const entries = spec.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (entries.length === 0) return undefined;
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix, extra] = entry.split('/');
    const ip = normalize(address!);
    const family = ip === undefined ? 0 : isIP(ip);
    const bits = prefix === undefined ? (family === 6 ? 128 : 32) : Number(prefix);
    if (ip === undefined || extra !== undefined || !Number.isInteger(bits) || bits < 0 || bits > (family === 6 ? 128 : 32) || (prefix !== undefined && !/^\d+$/.test(prefix))) {
      throw new Error(`'${entry}' is not an IP address or CIDR range (e.g. 10.0.0.0/8, fd00::/8)`);
    }
    list.addSubnet(ip, bits, family === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}

/** A plain IP: IPv4-mapped IPv6 (`::ffff:1.2.3.4`) becomes IPv4; anything else not an IP is undefined. */
function normalize(text: string): string | undefined {
  const unbracketed = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(unbracketed);
  const ip = mapped ? mapped[1]! : unbracketed;
  return isIP(ip) === 0 ? undefined : ip.toLowerCase();
}
