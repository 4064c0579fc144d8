import * as z from 'zod/mini';
import { SignalClientError, fromRpcError } from '../errors/signal-client-error.js';

/**
 * Parsing of what the gateway sends (docs/protocol.md). zod/mini keeps the browser bundle
 * small; a frame that does not parse becomes a `protocol` error instead of a crash.
 */
const fields = z.record(z.string(), z.unknown());

const response = z.object({
  id: z.union([z.string(), z.number(), z.null()]),
  result: z.optional(z.unknown()),
  error: z.optional(
    z.object({
      code: z.number(),
      message: z.string(),
      data: z.optional(fields),
    }),
  ),
});

const notification = z.object({
  method: z.string(),
  params: z.optional(fields),
});

const positionSchema = z.object({ offset: z.number(), epoch: z.string() });
/** `direct`: where the environment keeps direct messages, how the connection's stand (docs/recovery.md). */
export const connectedParams = z.object({
  address: z.string(),
  anonymous: z.optional(z.boolean()),
  direct: z.optional(z.object({ position: z.optional(positionSchema), recovered: z.optional(z.boolean()), reason: z.optional(z.string()) })),
});
export type ConnectedParams = z.infer<typeof connectedParams>;
export const channelMessageParams = z.looseObject({ id: z.string(), from: z.optional(z.string()) });
export const directMessageParams = z.looseObject({ id: z.optional(z.string()), from: z.optional(z.string()) });
export const presenceParams = z.looseObject({ id: z.string(), from: z.string(), state: z.optional(z.unknown()), joinedAt: z.optional(z.number()) });

const participantEntry = z.looseObject({
  from: z.optional(z.string()),
  address: z.optional(z.string()),
  state: z.optional(z.unknown()),
  joinedAt: z.optional(z.number()),
});
const occupancyCounts = z.object({ connections: z.number(), participants: z.number() });
export const occupancyParams = z.looseObject({ id: z.string(), connections: z.number(), participants: z.number() });
const position = positionSchema;
export const joinResult = z.looseObject({
  id: z.string(),
  participants: z.optional(z.array(participantEntry)),
  occupancy: z.optional(occupancyCounts),
  position: z.optional(position),
  recovered: z.optional(z.boolean()),
  reason: z.optional(z.string()),
});

/** A channel's occupancy, cluster-wide: connections in it, and among them presence participants. */
export interface Occupancy {
  readonly connections: number;
  readonly participants: number;
}

/** A message's place in its channel's history, or in the connection's direct messages (docs/recovery.md). */
export interface Position {
  offset: number;
  epoch: string;
}

/** The position a message carries, when its channel (or the environment's direct messages) keeps history. */
export function positionOf(params: Record<string, unknown>): Position | undefined {
  if (params.position === undefined) return undefined;
  const parsed = position.safeParse(params.position);
  return parsed.success ? parsed.data : undefined;
}

export type RpcId = string | number;

export type ServerFrame =
  | { kind: 'response'; id: RpcId; result: unknown }
  | { kind: 'error'; id: RpcId | null; error: SignalClientError }
  | { kind: 'notification'; method: string; params: Record<string, unknown> };

export function parseServerFrame(text: string): ServerFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw protocolError(`the gateway sent a frame that is not JSON: ${text.slice(0, 80)}`);
  }
  if (typeof value === 'object' && value !== null && 'method' in value) {
    const parsed = notification.safeParse(value);
    if (!parsed.success) throw protocolError(`the gateway sent a malformed notification: ${text.slice(0, 120)}`);
    return { kind: 'notification', method: parsed.data.method, params: parsed.data.params ?? {} };
  }
  const parsed = response.safeParse(value);
  if (!parsed.success) throw protocolError(`the gateway sent a frame that is neither a response nor a notification: ${text.slice(0, 120)}`);
  const { id, error } = parsed.data;
  if (error !== undefined) return { kind: 'error', id, error: fromRpcError(error) };
  if (id === null) throw protocolError('the gateway sent a result without a request id');
  return { kind: 'response', id, result: parsed.data.result };
}

/** Parses a notification's params, or says which method's params were malformed. */
export function readParams<T>(schema: z.ZodMiniType<T>, method: string, params: Record<string, unknown>): T {
  const parsed = schema.safeParse(params);
  if (!parsed.success) throw protocolError(`the gateway sent ${method} with malformed params: ${JSON.stringify(params).slice(0, 120)}`);
  return parsed.data;
}

export interface JoinedParticipant {
  address: string;
  state: unknown;
  joinedAt: number | undefined;
}

export interface JoinAnswer {
  participants: JoinedParticipant[] | undefined;
  /** Channels that keep history: where the channel stands. */
  position: Position | undefined;
  /** Joins that asked to recover: whether every missed message came before the answer, and if not why. */
  recovered: boolean | undefined;
  reason: string | undefined;
  /** Joins with `{ occupancy: true }`: the channel's counts. */
  occupancy: Occupancy | undefined;
}

/** The participants in a join result (entries may name the participant `from` or `address`), and its history fields. */
export function readJoinResult(result: unknown): JoinAnswer {
  const parsed = joinResult.safeParse(result);
  if (!parsed.success) throw protocolError(`the gateway answered signal.join with a malformed result: ${JSON.stringify(result).slice(0, 120)}`);
  const { participants: list, position, recovered, reason, occupancy } = parsed.data;
  const participants =
    list === undefined
      ? undefined
      : list.flatMap((p) => {
          const address = p.from ?? p.address;
          return address === undefined ? [] : [{ address, state: p.state, joinedAt: p.joinedAt }];
        });
  return { participants, position, recovered, reason, occupancy };
}

function protocolError(message: string): SignalClientError {
  return new SignalClientError('protocol', message);
}
