import { z } from 'zod';
import { appsFileWatchVar, intVar, logLevelVar, maxJsonDepthVar, parseEnv, webhookStreamVar } from '@signal/core';
import { checkNatsEnv, natsEnv, operationsEnv } from '@signal/operations';
import { historyVars } from '@signal/history';
import { occupancyStoreVars, presenceNodeVars, presenceStoreVars, revocationStoreVars } from '@signal/presence';

const schema = z.object({
  HOST: z.string().default('0.0.0.0'),
  PORT: intVar(0, 65535, 8081),
  ...natsEnv,
  APPS_FILE: z.string({ error: 'is required: the path of the apps JSON file' }).min(1),
  /** Reload the apps file when it changes on disk; SIGHUP reloads it either way. */
  APPS_FILE_WATCH: appsFileWatchVar,
  LOG_LEVEL: logLevelVar,
  /** Largest request body accepted; larger ones get 413. */
  MAX_BODY_BYTES: intVar(1024, 64 * 1024 * 1024, 1024 * 1024),
  /** Deepest nesting of arrays and objects in a request body; deeper ones get 400 invalid_json. */
  MAX_JSON_DEPTH: maxJsonDepthVar,
  /** The webhooks dispatcher's events stream (its WEBHOOK_STREAM): dead letters are read and replayed from `<name>_dead`. */
  WEBHOOK_STREAM: webhookStreamVar,
  /** Largest number of signals in one batch. */
  MAX_BATCH: intVar(1, 10000, 100),
  /** How long POST /signal waits for a gateway to confirm it holds the destination. */
  DELIVERY_TIMEOUT_MS: intVar(100, 60_000, 2000),
  /** Public WebSocket base URL of the gateways; minted tokens carry it as `aud` (the Bit6 SDK connects there). */
  GATEWAY_PUBLIC_URL: z
    .url({ error: 'must be a URL such as https://signal.example.com' })
    // The Bit6 SDK appends '/signal/v1/pubsub' to `aud`; a trailing slash would make '//signal…'.
    .transform((url) => url.replace(/\/+$/, ''))
    .optional(),
  /** Requests per second each secret key may make, sustained; over it: 429 rate_limited with Retry-After. */
  RATE_LIMIT_PER_KEY: intVar(1, 1_000_000, 1000),
  /** Requests a secret key may make at once after being idle. */
  RATE_LIMIT_BURST: intVar(1, 10_000_000, 2000),
  /** Time a client has to send a request's headers; then 408 and the connection is closed. */
  HTTP_HEADERS_TIMEOUT_MS: intVar(100, 600_000, 10_000),
  /** Time a client has to send a whole request, body included; then 408 and the connection is closed. */
  HTTP_REQUEST_TIMEOUT_MS: intVar(100, 3_600_000, 30_000),
  /** Idle keep-alive connections are closed after this; above load balancers' usual 60 s so they close first. */
  HTTP_KEEP_ALIVE_TIMEOUT_MS: intVar(1000, 3_600_000, 65_000),
  /** Open HTTP connections at most; further ones are closed at once. */
  MAX_HTTP_CONNECTIONS: intVar(1, 1_000_000, 10_000),
  ...presenceStoreVars,
  ...occupancyStoreVars,
  /** GET /v1/nodes calls a gateway alive if it beat within this; set it as on the gateways. */
  PRESENCE_NODE_TIMEOUT_MS: presenceNodeVars.PRESENCE_NODE_TIMEOUT_MS,
  /** The web console's built files (packages/console/dist), served at /console/; unset: no console. */
  CONSOLE_DIR: z.string().min(1).optional(),
  /**
   * A publishable key: enables POST /v1/demo-tokens, which mints fenced demo tokens in its
   * environment for anyone who asks. For a development stack only (docs/console.md).
   */
  DEMO_TOKENS_KEY: z.string().regex(/^pubk_(test|live)_[A-Za-z0-9]{16,128}$/, { error: 'must be a publishable key (pubk_test_… or pubk_live_…)' }).optional(),
  /** Demo tokens handed out per second, by everyone together (bursts of ten times as many). */
  DEMO_TOKENS_PER_SECOND: intVar(1, 1000, 5),
  /** Comma-separated gateway URLs the demo page connects to, in failover order; default GATEWAY_PUBLIC_URL. */
  DEMO_GATEWAYS: z
    .string()
    .transform((value) => value.split(',').map((url) => url.trim()).filter((url) => url !== ''))
    .refine((urls) => urls.length >= 1 && urls.length <= 16 && urls.every((url) => /^(wss?|https?):\/\//.test(url) && URL.canParse(url)), {
      error: 'must be 1 to 16 comma-separated ws://, wss://, http:// or https:// URLs such as ws://127.0.0.1:8080,ws://127.0.0.1:8082',
    })
    .optional(),
  ...historyVars,
  /** The revocation bucket, and MAX_TOKEN_TTL_SECONDS: the longest lifetime a minted token may have. */
  ...revocationStoreVars,
  ...operationsEnv(9091),
})
  .superRefine(checkNatsEnv)
  .refine((c) => c.HTTP_HEADERS_TIMEOUT_MS <= c.HTTP_REQUEST_TIMEOUT_MS, {
    error: 'must be at most HTTP_REQUEST_TIMEOUT_MS: the headers are part of the request',
    path: ['HTTP_HEADERS_TIMEOUT_MS'],
  });

/** The variables the emit-api reads, for docs and deployment checks. */
export { schema as emitEnvSchema };

export type EmitConfig = z.infer<typeof schema>;

export function loadEmitConfig(env: NodeJS.ProcessEnv = process.env): EmitConfig {
  return parseEnv(schema, env);
}
