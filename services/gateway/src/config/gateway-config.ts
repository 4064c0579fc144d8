import { z } from 'zod';
import { appsFileWatchVar, intVar, logLevelVar, maxJsonDepthVar, parseEnv } from '@signal/core';
import { checkNatsEnv, natsEnv, operationsEnv } from '@signal/operations';
import { checkTiming, occupancyStoreVars, onlineBucketVar, presenceNodeVars, presenceStoreVars, revocationStoreVars } from '@signal/presence';
import { historyVars } from '@signal/history';
import { gatewayLimitVars } from '../limits/limit-vars.js';

const schema = z.object({
  HOST: z.string().default('0.0.0.0'),
  PORT: intVar(0, 65535, 8080),
  ...natsEnv,
  APPS_FILE: z.string({ error: 'is required: the path of the apps JSON file' }).min(1),
  /** Reload the apps file when it changes on disk; SIGHUP reloads it either way. */
  APPS_FILE_WATCH: appsFileWatchVar,
  /** A JWKS fetch (an identity provider's keys) not completed by then is abandoned; the last good keys stay. */
  JWKS_TIMEOUT_MS: intVar(100, 60_000, 5000),
  /** Least time between two fetches of one JWKS URL: the floor under Cache-Control max-age and after an unknown kid or a failure. */
  JWKS_MIN_REFRESH_MS: intVar(100, 3_600_000, 30_000),
  LOG_LEVEL: logLevelVar,
  /** Largest frame a client may send; larger ones get an error and are dropped. */
  MAX_FRAME_BYTES: intVar(256, 16 * 1024 * 1024, 64 * 1024),
  /** Deepest nesting of arrays and objects in a client frame or packet; deeper ones are refused. */
  MAX_JSON_DEPTH: maxJsonDepthVar,
  /** Seconds without any frame before a connection is closed (uWS sends pings to keep it alive). */
  IDLE_TIMEOUT_SECONDS: intVar(8, 960, 120),
  /** Bytes queued for one slow client before it is disconnected. */
  MAX_BACKPRESSURE_BYTES: intVar(64 * 1024, 1024 * 1024 * 1024, 1024 * 1024),
  /** Identifies this node in connection routes; random per process when unset. */
  NODE_ID: z
    .string()
    .regex(/^[a-z0-9]{4,32}$/, { error: 'must be 4-32 of a-z and 0-9' })
    .optional(),
  /**
   * What happens to a native-protocol connection when its user token expires: `close` ends it
   * with 4001 unless the client sent a fresh token with `signal.auth`; `ignore` keeps it open.
   * Bit6 and Stelace connections are never closed for it (their clients do not expect it).
   */
  TOKEN_EXPIRY: z.enum(['close', 'ignore'], { error: 'must be close or ignore' }).default('close'),
  /** Stelace sockets that have not answered `authentication` with valid credentials by then are disconnected. */
  STELACE_AUTH_TIMEOUT_MS: intVar(100, 60_000, 2000),
  /** Engine.IO heartbeat: v4 clients get a ping this often, v3 clients are asked to ping this often. */
  SOCKETIO_PING_INTERVAL_MS: intVar(100, 300_000, 25_000),
  /** Engine.IO heartbeat: how long clients wait for the other side's answer before giving up. */
  SOCKETIO_PING_TIMEOUT_MS: intVar(100, 300_000, 20_000),
  /** How often the gateway sends itself a message through NATS to prove its NATS input works. */
  NATS_SELFCHECK_INTERVAL_MS: intVar(100, 60_000, 1000),
  /**
   * /healthz answers 503 once no self-check message has come back for this long while the NATS
   * client says it is connected (a stalled input; a restart fixes it).
   */
  NATS_STALL_TIMEOUT_MS: intVar(1000, 600_000, 15_000),
  ...gatewayLimitVars,
  ...operationsEnv(9090),
  ...presenceStoreVars,
  ...presenceNodeVars,
  ...occupancyStoreVars,
  /** Which users have a connection on which node (docs/webhooks.md); replicas and storage as the presence buckets. */
  ONLINE_BUCKET: onlineBucketVar,
  ...revocationStoreVars,
  ...historyVars,
})
  .superRefine(checkTiming)
  .superRefine((config, ctx) => {
    if (config.NATS_STALL_TIMEOUT_MS < config.NATS_SELFCHECK_INTERVAL_MS * 3) {
      ctx.addIssue({
        code: 'custom',
        path: ['NATS_STALL_TIMEOUT_MS'],
        message: `must be at least 3 × NATS_SELFCHECK_INTERVAL_MS (${config.NATS_SELFCHECK_INTERVAL_MS * 3}), so one late self-check message is not taken for a stall`,
      });
    }
  })
  .superRefine(checkNatsEnv);

/** The variables the gateway reads, for docs and deployment checks. */
export { schema as gatewayEnvSchema };

export type GatewayConfig = z.infer<typeof schema>;

export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return parseEnv(schema, env);
}
