import { z } from 'zod';
import { intVar, logLevelVar, parseEnv } from '@signal/core';
import { checkNatsEnv, natsEnv, operationsEnv } from '@signal/operations';
import { presenceStoreVars } from '@signal/presence';

const schema = z.object({
  HOST: z.string().default('0.0.0.0'),
  PORT: intVar(0, 65535, 8081),
  ...natsEnv,
  APPS_FILE: z.string({ error: 'is required: the path of the apps JSON file' }).min(1),
  LOG_LEVEL: logLevelVar,
  /** Largest request body accepted; larger ones get 413. */
  MAX_BODY_BYTES: intVar(1024, 64 * 1024 * 1024, 1024 * 1024),
  /** Largest number of signals in one batch. */
  MAX_BATCH: intVar(1, 10000, 100),
  /** Longest lifetime a minted user token may have. */
  MAX_TOKEN_TTL_SECONDS: intVar(60, 365 * 24 * 3600, 30 * 24 * 3600),
  /** How long POST /signal waits for a gateway to confirm it holds the destination. */
  DELIVERY_TIMEOUT_MS: intVar(100, 60_000, 2000),
  /** Public WebSocket base URL of the gateways; minted tokens carry it as `aud` (the Bit6 SDK connects there). */
  GATEWAY_PUBLIC_URL: z
    .url({ error: 'must be a URL such as https://signal.example.com' })
    // The Bit6 SDK appends '/signal/v1/pubsub' to `aud`; a trailing slash would make '//signal…'.
    .transform((url) => url.replace(/\/+$/, ''))
    .optional(),
  ...presenceStoreVars,
  ...operationsEnv(9091),
}).superRefine(checkNatsEnv);

/** The variables the emit-api reads, for docs and deployment checks. */
export { schema as emitEnvSchema };

export type EmitConfig = z.infer<typeof schema>;

export function loadEmitConfig(env: NodeJS.ProcessEnv = process.env): EmitConfig {
  return parseEnv(schema, env);
}
