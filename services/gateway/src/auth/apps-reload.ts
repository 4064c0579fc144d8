import type { Apps } from '@signal/core';
import type { Logger } from 'pino';
import type { Session } from '../core/session.js';
import { CLOSE_KEY_REMOVED } from '../server/close-codes.js';
import { removedCredential } from './credential.js';
import { withEnvironment } from './permissions.js';

/**
 * Applies a reloaded apps file to the node's open connections (docs/authorization.md#reloading-the-apps-file):
 * one that relies on a removed publishable key or token secret is closed with 4005; every
 * other one gets its environment's new authorization settings for what it starts next.
 */
export function applyAppsReload(apps: Apps, sessions: readonly Session[], log: Logger): { closed: number } {
  let closed = 0;
  for (const session of sessions) {
    if (!session.ws) continue;
    const why = removedCredential(apps, session);
    if (why === undefined) {
      session.permissions = withEnvironment(session.permissions, apps.authorizationOf(session.scope));
      continue;
    }
    closed++;
    log.debug({ route: session.route, app: session.scope.app, env: session.scope.env, why }, 'connection closed: its key was removed');
    session.ws.end(CLOSE_KEY_REMOVED.code, CLOSE_KEY_REMOVED.reason);
  }
  return { closed };
}
