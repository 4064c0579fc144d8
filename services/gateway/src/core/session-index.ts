import type { Scope } from '@signal/core';
import type { Session, TokenStamp } from './session.js';

/**
 * This node's open sessions by user and by token id, so a revocation or a disconnect finds the
 * connections it covers without scanning every session (a backend may send many).
 */
export class SessionIndex {
  private readonly byUser = new Map<string, Set<Session>>();
  private readonly byToken = new Map<string, Set<Session>>();

  add(session: Session): void {
    if (session.anonymous) return;
    addTo(this.byUser, keyOf(session.scope, session.identity), session);
    if (session.token?.id !== undefined) addTo(this.byToken, keyOf(session.scope, session.token.id), session);
  }

  remove(session: Session): void {
    if (session.anonymous) return;
    removeFrom(this.byUser, keyOf(session.scope, session.identity), session);
    if (session.token?.id !== undefined) removeFrom(this.byToken, keyOf(session.scope, session.token.id), session);
  }

  /** The session's token was replaced (`signal.auth`). */
  retoken(session: Session, token: TokenStamp): void {
    if (session.token?.id !== undefined) removeFrom(this.byToken, keyOf(session.scope, session.token.id), session);
    session.token = token;
    if (token.id !== undefined) addTo(this.byToken, keyOf(session.scope, token.id), session);
  }

  /** A copy: closing sessions while going through them removes them from the index. */
  ofUser(scope: Scope, identity: string): Session[] {
    return [...(this.byUser.get(keyOf(scope, identity)) ?? [])];
  }

  ofToken(scope: Scope, id: string): Session[] {
    return [...(this.byToken.get(keyOf(scope, id)) ?? [])];
  }
}

function keyOf(scope: Scope, subject: string): string {
  return `${scope.app}\u0000${scope.env}\u0000${subject}`;
}

function addTo(map: Map<string, Set<Session>>, key: string, session: Session): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(session);
}

function removeFrom(map: Map<string, Set<Session>>, key: string, session: Session): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(session);
  if (set.size === 0) map.delete(key);
}
