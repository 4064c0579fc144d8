import { createHash } from 'node:crypto';
import { ConfigError } from '../errors/signal-error.js';
import { publicKeyFrom, type PublicKey } from '../auth/public-keys.js';
import { matchesPattern } from '../auth/capability.js';
import { ENVIRONMENTS, type AppsFile, type AuthorizationConfig, type Environment, type IdentityProviderConfig, type NamespaceOptions, type HistorySettings, type HistoryWindow, type WebhookConfig, type SecretKeyPermission } from './apps-file.js';

/** The (app, environment) pair every connection, channel and signal is scoped to. */
export interface Scope {
  readonly app: string;
  readonly env: Environment;
}

/** A secret that signs and verifies HS256 tokens; `kid` undefined for the file's `tokenSecret`. */
export interface TokenKey {
  readonly kid: string | undefined;
  readonly secret: Uint8Array;
  /** SHA-256 of the secret: tells a key apart from a same-named one with another secret after a reload. */
  readonly fingerprint: string;
}

/** Which key verified a token: what a connection remembers so a reload can tell whether it still stands. */
export interface TokenKeyRef {
  readonly kid: string | undefined;
  readonly fingerprint: string;
}

export interface ScopeKeys extends Scope {
  /** The newest secret: the last of `tokenSecrets`, else `tokenSecret`. New tokens are signed with it. */
  readonly signingKey: TokenKey;
  /** Every secret that verifies this environment's tokens. */
  readonly tokenKeys: readonly TokenKey[];
  /** The first publishable key: the `iss` of the tokens this environment mints. */
  readonly issuer: string;
  /** Accepted `aud` values; undefined when the environment does not check `aud`. */
  readonly audience: readonly string[] | undefined;
}

/** The verification key a token's `kid` names (none: the kid-less `tokenSecret`), or undefined when there is none. */
export function tokenKeyOf(scope: ScopeKeys, kid: string | undefined): TokenKey | undefined {
  return scope.tokenKeys.find((key) => key.kid === kid);
}

/** An environment's identity provider: tokens whose `iss` is `issuer` are verified with its public keys. */
export interface IdentityProvider {
  readonly issuer: string;
  readonly scope: ScopeKeys;
  /** Keys given in the apps file. */
  readonly keys: readonly PublicKey[];
  /** Where gateways fetch more keys, in the background. */
  readonly jwksUrl: string | undefined;
  /** Claim names: `device` (none: tokens name no device), `capability`, `send`. */
  readonly claims: { readonly device?: string | undefined; readonly capability: string; readonly send: string };
}

/**
 * What an environment's history stream keeps: the largest window any of its namespaces (or its
 * direct messages) asks for, and its storage. Each namespace is served its own window from it.
 */
export interface HistoryStreamLimits {
  readonly maxMessages: number;
  readonly maxAgeSeconds: number;
  readonly maxBytes: number;
}

/** One environment's history, resolved once per apps file. */
interface EnvironmentHistory {
  readonly stream: HistoryStreamLimits;
  readonly defaults: HistoryWindow;
  readonly direct: HistoryWindow | undefined;
}

/** What every module asks of the apps file; `LiveApps` answers with whichever file was loaded last. */
export interface Apps {
  byPublishableKey(key: string): ScopeKeys | undefined;
  bySecretKey(key: string): SecretKeyGrant | undefined;
  deliversClientMessagesToStelace(scope: Scope): boolean;
  authorizationOf(scope: Scope): EnvironmentAuthorization;
  byTokenIssuer(issuer: string): IdentityProvider | undefined;
  historyOf(scope: Scope): HistoryStreamLimits | undefined;
  historyWindowOf(scope: Scope, channel: string): HistoryWindow | undefined;
  directHistoryOf(scope: Scope): HistoryWindow | undefined;
  sendsClientMessages(scope: Scope, channel: string): boolean;
}

export interface SecretKeyGrant extends ScopeKeys {
  /** Hex SHA-256 of the key: the same key keeps the same id across reloads of the apps file. */
  readonly id: string;
  readonly permissions: ReadonlySet<SecretKeyPermission>;
  /** Safe to log: the configured name, or the hash prefix. */
  readonly label: string;
}

/** An environment's webhook endpoints (docs/webhooks.md), as the apps file lists them. */
export interface EnvironmentWebhooks {
  readonly scope: Scope;
  readonly webhooks: readonly WebhookConfig[];
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

/** A webhook endpoint's id: the first 16 hex digits of its URL's SHA-256; logs and dead letters name it without the URL. */
export function webhookEndpointId(url: string): string {
  return sha256Hex(url).slice(0, 16);
}

/** Answers "which app and environment does this key belong to?" without keeping secret keys in clear. */
export class AppRegistry implements Apps {
  private readonly publishable = new Map<string, ScopeKeys>();
  private readonly secretByHash = new Map<string, SecretKeyGrant>();
  /** `app/env` of the environments whose Stelace sockets also get client messages. */
  private readonly stelaceClientMessages = new Set<string>();
  private readonly authorization = new Map<string, EnvironmentAuthorization>();
  private readonly providers = new Map<string, IdentityProvider>();
  private readonly history = new Map<string, EnvironmentHistory>();
  private readonly hooks: EnvironmentWebhooks[] = [];
  /** `app/env` of the environments with a namespace sending client messages to webhooks: the others skip the namespace search. */
  private readonly clientMessageScopes = new Set<string>();

  constructor(file: AppsFile) {
    for (const [i, app] of file.apps.entries()) {
      for (const env of ENVIRONMENTS) {
        const cfg = app.environments[env];
        if (!cfg) continue;
        const tokenKeys = [
          ...(cfg.tokenSecret === undefined ? [] : [tokenKey(undefined, cfg.tokenSecret)]),
          ...(cfg.tokenSecrets ?? []).map((entry) => tokenKey(entry.kid, entry.secret)),
        ];
        const scope: ScopeKeys = {
          app: app.id,
          env,
          signingKey: tokenKeys.at(-1)!,
          tokenKeys,
          issuer: cfg.publishableKeys[0]!,
          audience: cfg.audience === undefined ? undefined : typeof cfg.audience === 'string' ? [cfg.audience] : cfg.audience,
        };
        if (cfg.identityProvider) {
          const provider = identityProvider(cfg.identityProvider, scope, `apps.${i}.environments.${env}.identityProvider`);
          if (this.providers.has(provider.issuer)) throw new ConfigError(`apps file: identity provider issuer ${provider.issuer} is used twice`);
          this.providers.set(provider.issuer, provider);
        }
        if (cfg.stelace?.clientMessages) this.stelaceClientMessages.add(scopeId(scope));
        this.authorization.set(scopeId(scope), environmentAuthorization(cfg.authorization));
        if (cfg.history) this.history.set(scopeId(scope), environmentHistory(cfg.history, cfg.authorization));
        if ((cfg.authorization?.namespaces ?? []).some(([, options]) => options.webhooks?.clientMessages === true)) this.clientMessageScopes.add(scopeId(scope));
        if (cfg.webhooks !== undefined && cfg.webhooks.length > 0) this.hooks.push({ scope: { app: app.id, env }, webhooks: cfg.webhooks });
        for (const key of cfg.publishableKeys) {
          if (this.publishable.has(key)) throw new ConfigError(`apps file: publishable key ${key} is used twice`);
          this.publishable.set(key, scope);
        }
        for (const entry of cfg.secretKeys) {
          const hash = entry.sha256 ?? sha256Hex(entry.key!);
          if (this.secretByHash.has(hash)) throw new ConfigError(`apps file: a secret key of app ${app.id} is used twice`);
          this.secretByHash.set(hash, {
            ...scope,
            id: hash,
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

  /** The identity provider whose tokens carry this `iss`; a publishable key is never one (checked at load). */
  byTokenIssuer(issuer: string): IdentityProvider | undefined {
    return this.providers.get(issuer);
  }

  /** Every JWKS URL the file names, for the gateways' background fetcher. */
  jwksUrls(): Set<string> {
    return new Set([...this.providers.values()].flatMap((p) => (p.jwksUrl === undefined ? [] : [p.jwksUrl])));
  }

  /** Every environment with webhook endpoints, for the webhooks dispatcher. */
  webhooks(): readonly EnvironmentWebhooks[] {
    return this.hooks;
  }

  /** The ids of an environment's webhook endpoints now (`webhookEndpointId` of each URL). */
  webhookEndpointIds(scope: Scope): ReadonlySet<string> {
    const hooks = this.hooks.find((h) => h.scope.app === scope.app && h.scope.env === scope.env)?.webhooks ?? [];
    return new Set(hooks.map((hook) => webhookEndpointId(hook.url)));
  }

  /** Whether Stelace sockets of this app and environment get what clients publish and send, not only backend signals. */
  deliversClientMessagesToStelace(scope: Scope): boolean {
    return this.stelaceClientMessages.has(scopeId(scope));
  }

  /** The environment's policy, anonymous patterns and namespaces (open, with everything allowed, when the file sets none). */
  authorizationOf(scope: Scope): EnvironmentAuthorization {
    return this.authorization.get(scopeId(scope)) ?? OPEN;
  }

  /** What the environment's history stream keeps; undefined when it keeps no history (docs/recovery.md). */
  historyOf(scope: Scope): HistoryStreamLimits | undefined {
    return this.history.get(scopeId(scope))?.stream;
  }

  /** Every environment that keeps history, with its stream's limits: the emit-api makes sure their streams exist. */
  environmentsWithHistory(): Array<{ scope: Scope; settings: HistoryStreamLimits }> {
    return [...this.history].map(([id, history]) => {
      const slash = id.indexOf('/');
      return { scope: { app: id.slice(0, slash), env: id.slice(slash + 1) as Environment }, settings: history.stream };
    });
  }

  /** The window of the channel's most specific namespace when that keeps history; undefined otherwise. */
  historyWindowOf(scope: Scope, channel: string): HistoryWindow | undefined {
    const history = this.history.get(scopeId(scope));
    if (!history) return undefined;
    const option = this.authorizationOf(scope).namespaces.find((n) => matchesPattern(n.pattern, channel))?.options.history;
    if (option === undefined || option === false) return undefined;
    return option === true ? history.defaults : windowOf(option, history.defaults);
  }

  /** The window of direct messages to a user or device when the environment keeps them (`history.directMessages`). */
  directHistoryOf(scope: Scope): HistoryWindow | undefined {
    return this.history.get(scopeId(scope))?.direct;
  }

  /**
   * Whether what clients publish on the channel becomes a `client_message` webhook event: its
   * most specific namespace says `webhooks: { clientMessages: true }` (the file is refused
   * unless an endpoint of the environment asks for `client_message`).
   */
  sendsClientMessages(scope: Scope, channel: string): boolean {
    if (!this.clientMessageScopes.has(scopeId(scope))) return false;
    return this.authorizationOf(scope).namespaces.find((n) => matchesPattern(n.pattern, channel))?.options.webhooks?.clientMessages === true;
  }

  bySecretKey(key: string): SecretKeyGrant | undefined {
    if (!/^seck_(test|live)_[A-Za-z0-9]{16,128}$/.test(key)) return undefined;
    // Looking up by hash means lookup timing says nothing useful about how close a guess was.
    return this.secretByHash.get(sha256Hex(key));
  }
}

/** A namespace window object is checked only for its own fields; its blanks are the environment's. */
function windowOf(option: { maxMessages?: number | undefined; maxAgeSeconds?: number | undefined }, defaults: HistoryWindow): HistoryWindow {
  return { maxMessages: option.maxMessages ?? defaults.maxMessages, maxAgeSeconds: option.maxAgeSeconds ?? defaults.maxAgeSeconds };
}

/**
 * The stream keeps the largest window asked for (count and age): JetStream has one
 * max_msgs_per_subject and one max_age per stream; each namespace is served its own (smaller)
 * window from it at read (docs/recovery.md, "Windows per namespace").
 */
function environmentHistory(settings: HistorySettings, authorization: AuthorizationConfig | undefined): EnvironmentHistory {
  const defaults: HistoryWindow = { maxMessages: settings.maxMessages, maxAgeSeconds: settings.maxAgeSeconds };
  let maxMessages = defaults.maxMessages;
  let maxAgeSeconds = defaults.maxAgeSeconds;
  for (const [, options] of authorization?.namespaces ?? []) {
    if (typeof options.history !== 'object') continue;
    const window = windowOf(options.history, defaults);
    maxMessages = Math.max(maxMessages, window.maxMessages);
    maxAgeSeconds = Math.max(maxAgeSeconds, window.maxAgeSeconds);
  }
  return {
    stream: { maxMessages, maxAgeSeconds, maxBytes: settings.maxBytes },
    defaults,
    direct: settings.directMessages ? defaults : undefined,
  };
}

function identityProvider(config: IdentityProviderConfig, scope: ScopeKeys, path: string): IdentityProvider {
  if (/^pubk_(test|live)_/.test(config.issuer)) throw new ConfigError(`apps file: '${path}.issuer': must not be a publishable key`, { field: `${path}.issuer` });
  const keys = (config.keys ?? []).map((entry, j) => {
    try {
      return publicKeyFrom(entry.alg, entry.kid, entry.pem !== undefined ? { pem: entry.pem } : { jwk: entry.jwk! });
    } catch (error) {
      throw new ConfigError(`apps file: '${path}.keys.${j}': ${(error as Error).message}`, { field: `${path}.keys.${j}` });
    }
  });
  return { issuer: config.issuer, scope, keys, jwksUrl: config.jwksUrl, claims: config.claims };
}

function tokenKey(kid: string | undefined, secret: string): TokenKey {
  return { kid, secret: new TextEncoder().encode(secret), fingerprint: sha256Hex(secret) };
}

/** App ids cannot contain `/`, so this names one environment unambiguously. */
function scopeId(scope: Scope): string {
  return `${scope.app}/${scope.env}`;
}
