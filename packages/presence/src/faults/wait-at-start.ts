import { RequestError, type NatsConnection } from '@nats-io/transport-node';
import { JetStreamApiError } from '@nats-io/jetstream';
import { ConfigError } from '@signal/core';
import { isTransient } from './transient.js';

/** The log calls this needs (pino's, matched by shape so this package needs no logger). */
export interface StartLog {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

const FIRST_DELAY_MS = 200;
const MAX_DELAY_MS = 5000;
/** JetStream API code: "JetStream not enabled for account". */
const JS_NOT_ENABLED_FOR_ACCOUNT = 10039;

/**
 * Runs a start-up step that needs JetStream until it succeeds. A transient condition (a fresh
 * cluster electing its meta and bucket leaders, a node restarting) is waited out with backoff
 * and logged with what is awaited, while /readyz says "starting"; anything else (no JetStream
 * at all, a refused permission, a bad bucket setting) is thrown at once, so a misconfiguration
 * still stops the process with its message.
 */
export async function waitAtStart<T>(what: string, step: () => Promise<T>, log: StartLog): Promise<T> {
  const started = performance.now();
  let delay = FIRST_DELAY_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await step();
      if (attempt > 1) log.info({ waitedFor: what, ms: Math.round(performance.now() - started) }, `${what}: available, going on`);
      return result;
    } catch (error) {
      if (!isTransient(error)) throw error;
      log.warn({ err: error, waitingFor: what, attempt, retryInMs: delay }, `waiting for ${what}: JetStream is not ready yet (electing leaders?)`);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(MAX_DELAY_MS, delay * 2);
    }
  }
}

/**
 * Fails fast when the NATS server has no JetStream. A server started without it has nobody
 * listening on the JetStream API, so the request has no responders; a clustered server that is
 * still electing its meta leader answers 10008 instead, which is transient and waited out.
 */
export async function requireJetStream(nc: NatsConnection): Promise<void> {
  let reply;
  try {
    reply = await nc.request('$JS.API.INFO', undefined, { timeout: 5000 });
  } catch (error) {
    if (error instanceof RequestError && error.isNoResponders()) {
      // No `cause`: the no-responders error under it would read as transient.
      throw new ConfigError('NATS has no JetStream: start nats-server with JetStream enabled (-js, or a jetstream {} block)');
    }
    throw error;
  }
  const answer = reply.json<{ error?: { code: number; err_code: number; description: string } }>();
  if (!answer.error) return;
  if (answer.error.err_code === JS_NOT_ENABLED_FOR_ACCOUNT) {
    throw new ConfigError("JetStream is not enabled for this service's NATS account: enable it for the account (jetstream: enabled)");
  }
  throw new JetStreamApiError(answer.error);
}
