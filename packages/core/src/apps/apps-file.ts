import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../errors/signal-error.js';
import { issuePath } from '../errors/zod-issue.js';
import { DEFAULT_MAX_JSON_DEPTH, jsonTextTooDeep } from '../json/json-limits.js';
import { MAX_PATTERNS, channelPatternSchema, objectEntriesSchema } from '../auth/capability.js';
import { ASYMMETRIC_ALGORITHMS } from '../auth/public-keys.js';

export const ENVIRONMENTS = ['test', 'live'] as const;

/** What a secret key may do beyond its own environment's everyday calls (docs: README, apps file). */
export const SECRET_KEY_PERMISSIONS = ['broadcast', 'nodes'] as const;
export type SecretKeyPermission = (typeof SECRET_KEY_PERMISSIONS)[number];
export type Environment = (typeof ENVIRONMENTS)[number];

const idPattern = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/**
 * Bounds of the apps file, far above any real deployment (each app costs a few hundred bytes of
 * memory and every process keeps all of them), so that a generated or corrupted file fails at
 * start-up with a clear message instead of exhausting memory.
 */
export const APPS_FILE_LIMITS = {
  /** Largest file read: 64 MiB, about 100,000 apps with a few keys each. */
  bytes: 64 * 1024 * 1024,
  apps: 100_000,
  /** Publishable keys, and secret keys, per environment: room for rotations and one per backend. */
  keysPerEnvironment: 100,
  /** The file's own structure is 7 levels deep; anything deeper is not an apps file. */
  depth: DEFAULT_MAX_JSON_DEPTH,
  /** Token secrets per environment (`tokenSecrets`): a rotation needs two or three; a verification tries only the one its `kid` names. */
  tokenSecrets: 16,
  /** Accepted `aud` values per environment. */
  audiences: 16,
  /** Public keys of an environment's identity provider given in the file. */
  publicKeys: 16,
  /** Channel history (docs/recovery.md): messages kept per channel, how long, and the environment's storage. */
  historyMessages: 1000,
  historyAgeSeconds: 86_400,
  historyBytesMin: 1024 * 1024,
  historyBytesMax: 1024 * 1024 * 1024,
  /** Webhook endpoints per environment; each costs the dispatcher one JetStream consumer per partition. */
  webhooks: 8,
  /** Signing secrets per webhook endpoint: the current one and those still accepted during a rotation. */
  webhookSecrets: 4,
} as const;

/** Events a webhook endpoint can ask for (docs/webhooks.md). */
export const WEBHOOK_EVENTS = ['user_online', 'user_offline', 'channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'client_message'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

/** One backend endpoint that receives this environment's events, signed with each of its secrets. */
const webhookSchema = z
  .object({
    url: z.url({ protocol: /^https?$/, error: 'must be an http or https URL' }).max(2048, { error: 'must be at most 2048 characters' }),
    events: z
      .array(z.enum(WEBHOOK_EVENTS, { error: `must be one of ${WEBHOOK_EVENTS.join(', ')}` }))
      .min(1, { error: 'must list at least one event' })
      .max(WEBHOOK_EVENTS.length)
      .refine((events) => new Set(events).size === events.length, { error: 'must not repeat an event' }),
    /** Every request is signed with each of these (several while the receiver rotates). */
    secrets: z
      .array(z.string().min(32, { error: 'must be at least 32 characters' }).max(1024, { error: 'must be at most 1024 characters' }))
      .min(1, { error: 'must list at least one secret' })
      .max(APPS_FILE_LIMITS.webhookSecrets, { error: `must list at most ${APPS_FILE_LIMITS.webhookSecrets} secrets` }),
  })
  .strict();

const keysLimit = { error: `must list at most ${APPS_FILE_LIMITS.keysPerEnvironment} keys` };

function keySchema(prefix: 'pubk' | 'seck') {
  return z
    .string()
    .regex(new RegExp(`^${prefix}_(test|live)_[A-Za-z0-9]{16,128}$`), {
      error: `must look like ${prefix}_<test|live>_<16 to 128 letters or digits>`,
    });
}

const secretKeyEntry = z
  .object({
    /** The key itself; convenient for a bootstrap file, prefer `sha256` in production. */
    key: keySchema('seck').optional(),
    /** Hex SHA-256 of the key, so the file never holds the key in clear. */
    sha256: z
      .string()
      .regex(/^[a-f0-9]{64}$/, { error: 'must be 64 lowercase hex digits' })
      .optional(),
    /** Optional label, shown in logs instead of the key. */
    name: z.string().max(64).optional(),
    /** `broadcast`: emit to every connection of the environment; `nodes`: read the cluster's gateway nodes (GET /v1/nodes). */
    permissions: z.array(z.enum(SECRET_KEY_PERMISSIONS)).default([]),
  })
  .strict()
  .refine((e) => (e.key === undefined) !== (e.sha256 === undefined), {
    error: 'give exactly one of key or sha256',
  });

const stelaceSettingsSchema = z
  .object({
    /**
     * Also deliver what clients publish or send (native and Bit6) to Stelace sockets. Off by
     * default: Stelace apps only ever got signals from their backend, and cannot tell a user's
     * message from one, so a user could otherwise forge what looks like a backend signal.
     */
    clientMessages: z.boolean().default(false),
  })
  .strict();

const historyMessagesSchema = z.number().int().min(1).max(APPS_FILE_LIMITS.historyMessages, { error: `must be at most ${APPS_FILE_LIMITS.historyMessages}` });
const historyAgeSchema = z
  .number()
  .int()
  .min(1)
  .max(APPS_FILE_LIMITS.historyAgeSeconds, { error: `must be at most ${APPS_FILE_LIMITS.historyAgeSeconds} (one day)` });

/** A namespace's own window; what it leaves out is the environment's. */
const namespaceWindowSchema = z
  .object({
    maxMessages: historyMessagesSchema.optional(),
    maxAgeSeconds: historyAgeSchema.optional(),
  })
  .strict();

const namespaceOptionsSchema = z
  .object({
    /** false: nobody may join these channels with presence, whatever their token grants. */
    presence: z.boolean().optional(),
    /** false: clients may not publish here (backends still emit); whatever their token grants. */
    publish: z.boolean().optional(),
    /** Participants per channel, at most PRESENCE_MAX_PARTICIPANTS (which wins when lower). */
    maxParticipants: z.number().int().min(1).optional(),
    /**
     * true: these channels keep their messages for the environment's `history` window, for
     * recovery; or their own window, `{ maxMessages?, maxAgeSeconds? }`, each defaulting to the
     * environment's (docs/recovery.md).
     */
    history: z.union([z.boolean(), namespaceWindowSchema], { error: 'must be true, false or { maxMessages?, maxAgeSeconds? }' }).optional(),
    /** `clientMessages: true`: what clients publish here becomes a `client_message` webhook event (docs/webhooks.md). */
    webhooks: z
      .object({ clientMessages: z.boolean().optional() })
      .strict()
      .optional(),
  })
  .strict();

/**
 * The environment's history (docs/recovery.md): one JetStream stream per environment, so each
 * environment's storage is its own and one tenant's traffic never evicts another's; its window
 * is the default of the namespaces that keep history, and the window of direct messages.
 */
const historySettingsSchema = z
  .object({
    /** Messages kept per channel, and per user and device address, unless a namespace sets its own. */
    maxMessages: historyMessagesSchema.default(100),
    /** How long a message is kept, unless a namespace sets its own. */
    maxAgeSeconds: historyAgeSchema.default(120),
    /** The environment's whole history storage; when full, its oldest messages go first. */
    maxBytes: z
      .number()
      .int()
      .min(APPS_FILE_LIMITS.historyBytesMin, { error: `must be at least ${APPS_FILE_LIMITS.historyBytesMin} (1 MiB)` })
      .max(APPS_FILE_LIMITS.historyBytesMax, { error: `must be at most ${APPS_FILE_LIMITS.historyBytesMax} (1 GiB)` })
      .default(64 * 1024 * 1024),
    /**
     * true: direct messages to a user (`identity`) or device (`identity/device`) are kept for
     * this window too, and a connection recovers its own on reconnect (docs/recovery.md).
     */
    directMessages: z.boolean().default(false),
  })
  .strict();

/** Who may do what on this environment's channels; docs/authorization.md. */
const authorizationSchema = z
  .object({
    /** open: a token without `capability` may do everything (the old behaviour); restricted: only what it grants. */
    policy: z.enum(['open', 'restricted']).default('open'),
    /** Channels a publishable-key connection may subscribe to; default every channel when open, none when restricted. */
    anonymous: z.array(channelPatternSchema).max(MAX_PATTERNS, { error: `must have at most ${MAX_PATTERNS} patterns` }).optional(),
    /** Options for the channels matching each pattern; the most specific pattern applies. */
    namespaces: objectEntriesSchema(channelPatternSchema, namespaceOptionsSchema, 'channel patterns to namespace options').optional(),
  })
  .strict();

const tokenSecretSchema = z.string().min(32, { error: 'must be at least 32 characters' }).max(1024, { error: 'must be at most 1024 characters' });

export const kidSchema = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, { error: 'must be 1-64 of A-Z, a-z, 0-9, ., _ or -' });

/** One token secret with its key id, the JWT header's `kid` of the tokens it signs (docs/authorization.md#rotation). */
const tokenSecretEntry = z
  .object({
    kid: kidSchema,
    secret: tokenSecretSchema,
  })
  .strict();

/** A public key of an identity provider, as PEM text or a JWK; its algorithm is fixed here, never taken from a token. */
const publicKeyEntry = z
  .object({
    kid: kidSchema.optional(),
    alg: z.enum(ASYMMETRIC_ALGORITHMS, { error: `must be one of ${ASYMMETRIC_ALGORITHMS.join(', ')}` }),
    pem: z.string().max(16_384, { error: 'must be at most 16384 characters' }).optional(),
    jwk: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .refine((e) => (e.pem === undefined) !== (e.jwk === undefined), { error: 'give exactly one of pem or jwk' });

const claimNameSchema = z.string().min(1).max(64, { error: 'must be at most 64 characters' });

/**
 * Tokens signed by an existing identity provider (RS256, ES256, EdDSA), recognised by their
 * `iss`; docs/authorization.md#asymmetric-tokens.
 */
const identityProviderSchema = z
  .object({
    /** The `iss` of the provider's tokens; it is how a gateway knows the token is for this environment. */
    issuer: z.string().min(1).max(512, { error: 'must be at most 512 characters' }),
    keys: z.array(publicKeyEntry).min(1).max(APPS_FILE_LIMITS.publicKeys, { error: `must list at most ${APPS_FILE_LIMITS.publicKeys} keys` }).optional(),
    /** Fetched and refreshed in the background by gateways. */
    jwksUrl: z.url({ protocol: /^https?$/, error: 'must be an http or https URL' }).max(2048).optional(),
    /** Which claims carry the device, the capability and the send rule; `sub` is always the identity. */
    claims: z
      .object({
        device: claimNameSchema.optional(),
        capability: claimNameSchema.default('capability'),
        send: claimNameSchema.default('send'),
      })
      .strict()
      .default({ capability: 'capability', send: 'send' }),
  })
  .strict()
  .refine((p) => p.keys !== undefined || p.jwksUrl !== undefined, { error: 'needs keys or jwksUrl', path: ['keys'] });

const audienceShape = `must be a string or an array of 1 to ${APPS_FILE_LIMITS.audiences} strings`;
const audienceSchema = z.string().min(1, { error: 'must not be empty' }).max(512, { error: 'must be at most 512 characters' });

const environmentSchema = z
  .object({
    publishableKeys: z.array(keySchema('pubk')).min(1).max(APPS_FILE_LIMITS.keysPerEnvironment, keysLimit),
    secretKeys: z.array(secretKeyEntry).min(1).max(APPS_FILE_LIMITS.keysPerEnvironment, keysLimit),
    /**
     * HMAC secret that signs this environment's user tokens (HS256) without a `kid`: the format
     * every deployment had before rotation. It verifies tokens whose header has no `kid`, and
     * signs new ones only when `tokenSecrets` is absent.
     */
    tokenSecret: tokenSecretSchema.optional(),
    /** Secrets with key ids, oldest first: the last one signs new tokens, every one verifies tokens naming its `kid`. */
    tokenSecrets: z
      .array(tokenSecretEntry)
      .min(1, { error: 'must list at least one secret; remove the field instead' })
      .max(APPS_FILE_LIMITS.tokenSecrets, { error: `must list at most ${APPS_FILE_LIMITS.tokenSecrets} secrets` })
      .refine((entries) => new Set(entries.map((e) => e.kid)).size === entries.length, { error: 'must not repeat a kid' })
      .optional(),
    /** When set, gateways accept only tokens whose `aud` names one of these; emit-api mints them with the first. */
    audience: z
      .union([audienceSchema, z.array(audienceSchema).min(1, { error: audienceShape }).max(APPS_FILE_LIMITS.audiences, { error: audienceShape })], {
        error: audienceShape,
      })
      .optional(),
    /** Accept tokens signed by this identity provider too (asymmetric keys); see docs/authorization.md. */
    identityProvider: identityProviderSchema.optional(),
    /** How this environment's Stelace (Socket.IO) sockets behave; see docs/stelace.md. */
    stelace: stelaceSettingsSchema.optional(),
    /** Channel and send permissions; absent means an open environment. */
    authorization: authorizationSchema.optional(),
    /** The history window of the channels whose namespace says `history: true`; absent: no history. */
    history: historySettingsSchema.optional(),
    /** Backend endpoints that receive this environment's events (docs/webhooks.md). */
    webhooks: z
      .array(webhookSchema)
      .max(APPS_FILE_LIMITS.webhooks, { error: `must list at most ${APPS_FILE_LIMITS.webhooks} endpoints` })
      .refine((hooks) => new Set(hooks.map((h) => h.url)).size === hooks.length, { error: 'must not repeat a url' })
      .optional(),
  })
  .strict()
  .refine((e) => e.tokenSecret !== undefined || e.tokenSecrets !== undefined, {
    error: 'needs tokenSecret or tokenSecrets: a secret that signs and verifies user tokens',
    path: ['tokenSecret'],
  });

export const appsFileSchema = z
  .object({
    apps: z
      .array(
        z
          .object({
            id: z.string().regex(idPattern, { error: 'must be 1-63 of a-z, 0-9, _ or -, starting with a letter or digit' }),
            name: z.string().max(200).optional(),
            environments: z
              .object({ test: environmentSchema.optional(), live: environmentSchema.optional() })
              .strict()
              .refine((e) => e.test !== undefined || e.live !== undefined, { error: 'needs test or live' }),
          })
          .strict(),
      )
      .min(1)
      .max(APPS_FILE_LIMITS.apps, { error: `must list at most ${APPS_FILE_LIMITS.apps} apps; run one deployment per group of apps` }),
  })
  .strict();

export type AppsFile = z.infer<typeof appsFileSchema>;
export type EnvironmentConfig = z.infer<typeof environmentSchema>;
export type AuthorizationConfig = z.infer<typeof authorizationSchema>;
export type NamespaceOptions = z.infer<typeof namespaceOptionsSchema>;
export type HistorySettings = z.infer<typeof historySettingsSchema>;
/** How much of a channel's (or a user's or device's) history is served: its newest `maxMessages`, none older than `maxAgeSeconds`. */
export interface HistoryWindow {
  readonly maxMessages: number;
  readonly maxAgeSeconds: number;
}
export type IdentityProviderConfig = z.infer<typeof identityProviderSchema>;
export type WebhookConfig = z.infer<typeof webhookSchema>;

/** Validates an apps document; the error names the bad field by its path in the file. */
export function parseAppsFile(raw: unknown, source = 'apps file'): AppsFile {
  const result = appsFileSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(`${source}: '${issuePath(issue)}': ${issue.message}`, { field: issuePath(issue) });
  }
  checkEnvironmentsMatchKeys(result.data, source);
  return result.data;
}

function checkEnvironmentsMatchKeys(file: AppsFile, source: string): void {
  file.apps.forEach((app, i) => {
    for (const env of ENVIRONMENTS) {
      const cfg = app.environments[env];
      if (!cfg) continue;
      if (!cfg.history) {
        const keeping = (cfg.authorization?.namespaces ?? []).find(([, options]) => options.history !== undefined && options.history !== false);
        if (keeping) {
          throw new ConfigError(
            `${source}: 'apps.${i}.environments.${env}.history': namespace '${keeping[0]}' keeps history; give the environment a history window ({ maxMessages, maxAgeSeconds })`,
            { field: `apps.${i}.environments.${env}.history` },
          );
        }
      }
      const messaging = (cfg.authorization?.namespaces ?? []).find(([, options]) => options.webhooks?.clientMessages === true);
      if (messaging && !(cfg.webhooks ?? []).some((hook) => hook.events.includes('client_message'))) {
        throw new ConfigError(
          `${source}: 'apps.${i}.environments.${env}.webhooks': namespace '${messaging[0]}' sends client messages to webhooks; list 'client_message' in the events of an endpoint (or remove the namespace's webhooks option)`,
          { field: `apps.${i}.environments.${env}.webhooks` },
        );
      }
      cfg.publishableKeys.forEach((k, j) => {
        if (!k.startsWith(`pubk_${env}_`))
          throw new ConfigError(`${source}: 'apps.${i}.environments.${env}.publishableKeys.${j}': a ${env} key must start with pubk_${env}_`);
      });
      cfg.secretKeys.forEach((k, j) => {
        if (k.key !== undefined && !k.key.startsWith(`seck_${env}_`))
          throw new ConfigError(`${source}: 'apps.${i}.environments.${env}.secretKeys.${j}.key': a ${env} key must start with seck_${env}_`);
      });
    }
  });
}

export function loadAppsFile(path: string): AppsFile {
  return parseAppsFile(readAppsJson(path), `apps file ${path}`);
}

/**
 * An apps file's JSON as written, read once with the file's size and depth caps, its parse
 * errors scrubbed of the file's text; `parseAppsFile` validates it.
 */
export function readAppsJson(path: string): unknown {
  let text: string;
  try {
    const size = statSync(path).size;
    if (size > APPS_FILE_LIMITS.bytes) throw new ConfigError(`apps file ${path} is ${size} bytes, over the ${APPS_FILE_LIMITS.bytes}-byte limit`);
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    if (cause instanceof ConfigError) throw cause;
    throw new ConfigError(`cannot read apps file ${path}: ${(cause as Error).message}`, { cause });
  }
  if (jsonTextTooDeep(text, APPS_FILE_LIMITS.depth)) {
    throw new ConfigError(`apps file ${path} is nested deeper than ${APPS_FILE_LIMITS.depth} levels; it is not an apps file`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    // V8 quotes the text around the error; in an apps file that could be a secret.
    const why = (cause as Error).message.replace(/, ".*$/s, '');
    throw new ConfigError(`apps file ${path} is not valid JSON: ${why}`);
  }
  return raw;
}
