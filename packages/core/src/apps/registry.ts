import { createHash } from 'node:crypto';
import { ConfigError } from '../errors/signal-error.js';
import { ENVIRONMENTS, type AppsFile, type AuthorizationConfig, type Environment, type NamespaceOptions } from './apps-file.js';

/** The (app, environment) pair every connection, channel and signal is scoped to. */
export interface Scope {
  readonly app: string;
  readonly env: Environment;
}

export interface ScopeKeys extends Scope {
  readonly tokenSecret: Uint8Array;
  /** The first publishable key: the `iss` of the tokens this environment mints. */
  readonly issuer: string;
}

export interface SecretKeyGrant extends ScopeKeys {
  readonly permissions: ReadonlySet<'broadcast'>;
  /** Safe to log: the configured name, or the hash prefix. */
  readonly label: string;
}

/** An environment's authorization settings with their defaults filled in (docs/authorization.md). */
export interface EnvironmentAuthorization {
  readonly policy: 'open' | 'restricted';
  /** Channel patterns publishable-key connections may subscribe to. */
  readonly anonymous: readonly string[];
  /** Most specific first: exact names, then longer prefixes before shorter ones. */
  readonly namespaces: readonly { readonly pattern: string; readonly options: NamespaceOptions }[];
}

const OPEN: EnvironmentAuthorization = { policy: 'open', anonymous: ['*'], namespaces: [] };

function environmentAuthorization(config: AuthorizationConfig | undefined): EnvironmentAuthorization {
  if (!config) return OPEN;
  const namespaces = (config.namespaces ?? []).map(([pattern, options]) => ({ pattern, options }));
  namespaces.sort((a, b) => specificity(b.pattern) - specificity(a.pattern));
  return {
    policy: config.policy,
    anonymous: config.anonymous ?? (config.policy === 'open' ? ['*'] : []),
    namespaces,
  };
}

/** An exact name beats every prefix pattern; among prefixes the longer one wins. */
function specificity(pattern: string): number {
  return pattern.endsWith('*') ? pattern.length - 1 : Number.MAX_SAFE_INTEGER;
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Answers "which app and environment does this key belong to?" without keeping secret keys in clear. */
export class AppRegistry {
  private readonly publishable = new Map<string, ScopeKeys>();
  private readonly secretByHash = new Map<string, SecretKeyGrant>();
  /** `app/env` of the environments whose Stelace sockets also get client messages. */
  private readonly stelaceClientMessages = new Set<string>();
  private readonly authorization = new Map<string, EnvironmentAuthorization>();

  constructor(file: AppsFile) {
    for (const app of file.apps) {
      for (const env of ENVIRONMENTS) {
        const cfg = app.environments[env];
        if (!cfg) continue;
        const scope: ScopeKeys = {
          app: app.id,
          env,
          tokenSecret: new TextEncoder().encode(cfg.tokenSecret),
          issuer: cfg.publishableKeys[0]!,
        };
        if (cfg.stelace?.clientMessages) this.stelaceClientMessages.add(scopeId(scope));
        this.authorization.set(scopeId(scope), environmentAuthorization(cfg.authorization));
        for (const key of cfg.publishableKeys) {
          if (this.publishable.has(key)) throw new ConfigError(`apps file: publishable key ${key} is used twice`);
          this.publishable.set(key, scope);
        }
        for (const entry of cfg.secretKeys) {
          const hash = entry.sha256 ?? sha256Hex(entry.key!);
          if (this.secretByHash.has(hash)) throw new ConfigError(`apps file: a secret key of app ${app.id} is used twice`);
          this.secretByHash.set(hash, {
            ...scope,
            permissions: new Set(entry.permissions),
            label: entry.name ?? `seck_${env}_…${hash.slice(0, 8)}`,
          });
        }
      }
    }
  }

  byPublishableKey(key: string): ScopeKeys | undefined {
    return this.publishable.get(key);
  }

  /** Whether Stelace sockets of this app and environment get what clients publish and send, not only backend signals. */
  deliversClientMessagesToStelace(scope: Scope): boolean {
    return this.stelaceClientMessages.has(scopeId(scope));
  }

  /** The environment's policy, anonymous patterns and namespaces (open, with everything allowed, when the file sets none). */
  authorizationOf(scope: Scope): EnvironmentAuthorization {
    return this.authorization.get(scopeId(scope)) ?? OPEN;
  }

  bySecretKey(key: string): SecretKeyGrant | undefined {
    if (!/^seck_(test|live)_[A-Za-z0-9]{16,128}$/.test(key)) return undefined;
    // Looking up by hash means lookup timing says nothing useful about how close a guess was.
    return this.secretByHash.get(sha256Hex(key));
  }
}

/** App ids cannot contain `/`, so this names one environment unambiguously. */
function scopeId(scope: Scope): string {
  return `${scope.app}/${scope.env}`;
}
