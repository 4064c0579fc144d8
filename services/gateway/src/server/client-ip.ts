import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { ClientAddresses } from '../limits/client-address.js';

/** The client's address for an upgrade request; call inside the upgrade handler, before `res.upgrade`. */
export function clientIpOf(res: HttpResponse, req: HttpRequest, addresses: ClientAddresses): string {
  const peer = Buffer.from(res.getRemoteAddressAsText()).toString();
  if (!addresses.readsForwardedFor) return addresses.clientOf(peer, []);
  // Every X-Forwarded-For header, not just the first: a proxy may add its own after the client's.
  const forwarded: string[] = [];
  req.forEach((name, value) => {
    if (name === 'x-forwarded-for') forwarded.push(value);
  });
  return addresses.clientOf(peer, forwarded);
}
