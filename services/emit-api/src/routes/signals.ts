import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { SignalError, encodeEnvelope, eventNameSchema, fromZodError, type Position, type Scope, type SendEnvelope } from '@signal/core';
import { assertNatsConnected } from '@signal/operations';
import { readBody, type BodyLimits } from '../http/read-body.js';
import { metrics } from '../metrics/emit-metrics.js';
import { sendJson } from '../http/respond.js';
import { requireSecretKey, type SecretKeys } from '../http/secret-key.js';
import type { HistoryStore } from '@signal/history';
import { destinationSchema, targetOf, type Target } from '../publishing/destinations.js';

const signalSchema = z.strictObject({
  to: z.union([destinationSchema, z.array(destinationSchema).min(1).max(100)]),
  event: eventNameSchema.default('signal'),
  message: z.unknown().optional(),
});

export interface SignalsRouteOptions {
  body: BodyLimits;
  maxBatch: number;
}

/**
 * POST /v1/signals: one signal, or `{ signals: [...] }`. Everything is validated before
 * anything is published, so a bad batch publishes nothing. Returns as soon as NATS has the
 * messages: delivery is at most once. Messages to channels that keep history (and to users
 * and devices, where the environment keeps direct messages) are stored first
 * (docs/recovery.md), and the answer lists where each went in `history`.
 */
export function signalsRoute(nc: NatsConnection, keys: SecretKeys, history: HistoryStore, options: SignalsRouteOptions) {
  const bodySchema = z.union([
    z.strictObject({ signals: z.array(signalSchema).min(1).max(options.maxBatch) }),
    signalSchema,
  ]);
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const grant = requireSecretKey(req, keys);
    const raw = await readBody(req, options.body);
    if (raw === undefined) throw new SignalError('bad_request', 'body is required: { to, event?, message } or { signals: [...] }');
    const parsed = bodySchema.safeParse(raw);
    if (!parsed.success) throw fromZodError(narrowest(raw, parsed.error), 'bad_request');
    const signals = 'signals' in parsed.data ? parsed.data.signals : [parsed.data];
    const prefix = 'signals' in parsed.data ? 'signals.' : '';
    const targets = signals.flatMap((signal, i) => {
      const destinations = Array.isArray(signal.to) ? signal.to : [signal.to];
      const fields = { event: signal.event, message: signal.message };
      return destinations.map((destination, j) => {
        const field = `${prefix}${prefix ? i + '.' : ''}to${Array.isArray(signal.to) ? '.' + j : ''}`;
        if ('broadcast' in destination && !grant.permissions.has('broadcast')) {
          throw new SignalError('forbidden', "this secret key lacks the 'broadcast' permission", { field });
        }
        return targetOf(grant, destination, fields, field);
      });
    });
    assertNatsConnected(nc);
    const kept: Target[] = [];
    const plain: Target[] = [];
    for (const target of targets) (keptIn(history, grant, target) ? kept : plain).push(target);
    // Stored ones first, all requested at once (one connection keeps their order): if the
    // history cannot take them, the answer is 503 and nothing else went out.
    const stored = await Promise.all(kept.map((target) => storeIn(history, grant, target)));
    for (const target of plain) nc.publish(target.subject, encodeEnvelope(target.envelope));
    metrics.signalsAccepted.inc(signals.length);
    metrics.deliveries.inc(targets.length);
    metrics.historyStored.inc(stored.length);
    const answer = { accepted: signals.length, deliveries: targets.length };
    // Only when something went to history: answers for environments without it stay as they were.
    if (stored.length === 0) return sendJson(res, 202, answer);
    sendJson(res, 202, { ...answer, history: stored.map((position, i) => ({ ...storedAt(kept[i]!), position })) });
  };
}

/** A channel message where its namespace keeps history; a direct message to a user or device where the environment keeps those. */
function keptIn(history: HistoryStore, scope: Scope, target: Target): boolean {
  if (target.envelope.t === 'publish') return history.keeps(scope, target.envelope.ch);
  return target.direct !== undefined && history.keepsDirect(scope);
}

function storeIn(history: HistoryStore, scope: Scope, target: Target): Promise<Position> {
  if (target.envelope.t === 'publish') return history.store(scope, target.envelope);
  return history.storeDirect(scope, target.direct!, target.envelope as SendEnvelope);
}

/** Where a stored signal went, as the answer names it: `{channel}`, `{user}` or `{device}` (`identity/device`). */
function storedAt(target: Target): Record<string, string> {
  if (target.envelope.t === 'publish') return { channel: target.envelope.ch };
  const { identity, device } = target.direct!;
  return device === undefined ? { user: identity } : { device: `${identity}/${device}` };
}

/**
 * A union reports its first member's issues, which for a single signal would complain about a
 * missing `signals`; re-check against the shape the body was evidently meant to have.
 */
function narrowest(raw: unknown, error: z.ZodError): z.ZodError {
  if (typeof raw === 'object' && raw !== null && !('signals' in raw)) {
    const single = signalSchema.safeParse(raw);
    if (!single.success) return single.error;
  }
  return error;
}
