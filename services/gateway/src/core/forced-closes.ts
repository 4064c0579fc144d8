import {
  connectionSubject,
  deviceSubject,
  nodeOfRoute,
  parseAddress,
  userSubject,
  type Address,
  type ControlCommand,
  type Scope,
} from '@signal/core';
import type { Revocation } from '@signal/presence';
import type { MessageGuard } from '@signal/operations';
import type { Logger } from 'pino';
import { metrics } from '../metrics/gateway-metrics.js';
import { CLOSE_DISCONNECTED, CLOSE_REVOKED } from '../server/close-codes.js';
import type { Hub } from './hub.js';
import type { CloseCode, Session } from './session.js';

/**
 * Closes this node's connections on a backend's order: those a new revocation covers (4003), and
 * those a disconnect names (4004). Every surface closes its own way (`session.closeWith`).
 */
export class ForcedCloses {
  constructor(
    private readonly hub: Hub,
    private readonly guard: MessageGuard,
    private readonly log: Logger,
  ) {}

  /** A revocation new to this node (from the watch): close what it covers. */
  revoked(revocation: Revocation): void {
    const sessions =
      revocation.kind === 'jti'
        ? this.hub.index.ofToken(revocation.scope, revocation.jti)
        : this.hub.index.ofUser(revocation.scope, revocation.identity).filter((s) => s.token === undefined || s.token.issuedAt === undefined || s.token.issuedAt < revocation.before);
    this.close(sessions, CLOSE_REVOKED, 'revoked', 'revocation');
  }

  /**
   * A command that came on `subject`: it must name the user, device or connection the subject
   * belongs to, so a command can never reach beyond the subject (and tenant) it travelled on.
   */
  command(scope: Scope, subject: string, command: ControlCommand): void {
    let address: Address;
    try {
      address = parseAddress(command.to);
    } catch {
      return;
    }
    if (subjectOf(scope, address) !== subject) return;
    let sessions: Session[];
    switch (address.kind) {
      case 'user':
        sessions = this.hub.index.ofUser(scope, address.identity);
        break;
      case 'device':
        sessions = this.hub.index.ofUser(scope, address.identity).filter((s) => s.device === address.device);
        break;
      case 'connection': {
        const session = this.hub.session(address.route);
        const same = session && session.scope.app === scope.app && session.scope.env === scope.env;
        sessions = same && session.identity === address.identity && session.device === address.device ? [session] : [];
        break;
      }
    }
    this.close(sessions, CLOSE_DISCONNECTED, 'disconnected', 'subject');
  }

  /** `source`: what a failure is counted as dropped from (the revocation entry, or the command's subject message). */
  private close(sessions: Session[], close: CloseCode, reason: 'revoked' | 'disconnected', source: string): void {
    for (const session of sessions) {
      if (!session.ws) continue;
      metrics.forcedCloses.inc({ reason });
      this.log.info({ route: session.route, app: session.scope.app, env: session.scope.env, reason }, 'connection closed by the backend');
      // One socket uWS refuses to close must not keep the others open.
      this.guard.run(source, () => session.closeWith(close));
    }
  }
}

function subjectOf(scope: Scope, address: Address): string | undefined {
  switch (address.kind) {
    case 'user':
      return userSubject(scope, address.identity);
    case 'device':
      return deviceSubject(scope, address.identity, address.device);
    case 'connection': {
      const node = nodeOfRoute(address.route);
      return node === undefined ? undefined : connectionSubject(scope, node, address.route);
    }
  }
}
