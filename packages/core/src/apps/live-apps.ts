import type { HistoryWindow } from './apps-file.js';
import type { AppRegistry, Apps, EnvironmentAuthorization, HistoryStreamLimits, IdentityProvider, Scope, ScopeKeys, SecretKeyGrant } from './registry.js';

/**
 * The one place the apps file is swapped when it is reloaded: every module holds this object,
 * never an AppRegistry, so each question is answered by the registry loaded last. A registry
 * is immutable and is replaced whole, after the new file was read and validated completely,
 * so no caller ever sees half of one file and half of another.
 */
export class LiveApps implements Apps {
  constructor(private registry: AppRegistry) {}

  get current(): AppRegistry {
    return this.registry;
  }

  /** Installs a registry built from a fully validated file; returns the one it replaces. */
  replace(next: AppRegistry): AppRegistry {
    const previous = this.registry;
    this.registry = next;
    return previous;
  }

  byPublishableKey(key: string): ScopeKeys | undefined {
    return this.registry.byPublishableKey(key);
  }

  bySecretKey(key: string): SecretKeyGrant | undefined {
    return this.registry.bySecretKey(key);
  }

  deliversClientMessagesToStelace(scope: Scope): boolean {
    return this.registry.deliversClientMessagesToStelace(scope);
  }

  authorizationOf(scope: Scope): EnvironmentAuthorization {
    return this.registry.authorizationOf(scope);
  }

  byTokenIssuer(issuer: string): IdentityProvider | undefined {
    return this.registry.byTokenIssuer(issuer);
  }

  historyOf(scope: Scope): HistoryStreamLimits | undefined {
    return this.registry.historyOf(scope);
  }

  historyWindowOf(scope: Scope, channel: string): HistoryWindow | undefined {
    return this.registry.historyWindowOf(scope, channel);
  }

  directHistoryOf(scope: Scope): HistoryWindow | undefined {
    return this.registry.directHistoryOf(scope);
  }

  sendsClientMessages(scope: Scope, channel: string): boolean {
    return this.registry.sendsClientMessages(scope, channel);
  }
}
