import type { Principal } from '../auth/authenticate-connection.js';
import type { RequestQuota } from '../limits/request-limits.js';
import type { Hub } from './hub.js';
import type { CloseCode, Session } from './session.js';
import type { Surface } from './surface.js';

/** `route` may be allocated earlier by a surface that shows it to the client before the session exists. */
export function createSession(
  hub: Hub,
  surface: Surface,
  principal: Principal,
  client: { ip: string; quota: RequestQuota; closeWith?: (close: CloseCode) => void },
  route = hub.nextRoute(),
): Session {
  const session: Session = {
    route,
    scope: principal.scope,
    address: `${principal.identity}/${principal.device}/${route}`,
    identity: principal.identity,
    device: principal.device,
    anonymous: principal.anonymous,
    permissions: principal.permissions,
    expiresAt: principal.expiresAt,
    token: principal.token,
    // Native and Bit6 sockets just close; the close handler releases everything.
    closeWith: client.closeWith ?? ((close) => session.ws?.end(close.code, close.reason)),
    credential: principal.credential,
    surface,
    channels: new Set(),
    ip: client.ip,
    quota: client.quota,
    ws: undefined,
  };
  return session;
}
