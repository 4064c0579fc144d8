import { z } from 'zod';
import { SignalError, channelNameSchema, fromZodError, type Fields, type Position } from '@signal/core';

/**
 * Parsing of client frames: JSON-RPC 2.0 requests (with `id`) and notifications (without).
 * Bit6 frames are valid native frames; extra fields travel as the signal's content.
 */
const rpcId = z.union([z.string().max(128), z.number().int(), z.null()]);

const envelopeSchema = z.object({
  jsonrpc: z.literal('2.0', { error: "must be '2.0'" }).optional(),
  id: rpcId.optional(),
  method: z.string({ error: 'must be a string' }).min(1).max(128),
  params: z.record(z.string(), z.unknown(), { error: 'must be an object' }).optional(),
});

export type RpcId = z.infer<typeof rpcId>;

/** A place in a channel's history, as the gateway gave it (docs/recovery.md). */
const positionSchema = z.strictObject(
  {
    offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    epoch: z.string().min(1).max(64),
  },
  { error: 'must be a position {offset, epoch} from a message or join of this channel' },
);

const joinParams = z.looseObject({
  id: channelNameSchema,
  presence: z.boolean({ error: 'must be a boolean' }).optional(),
  occupancy: z.boolean({ error: 'must be a boolean' }).optional(),
  joinBack: z.boolean({ error: 'must be a boolean' }).optional(),
  token: z.string({ error: 'must be a channel token' }).min(1).max(8192).optional(),
  since: positionSchema.optional(),
});
const leaveParams = z.looseObject({ id: channelNameSchema });
const publishParams = z.looseObject({ id: channelNameSchema });
const sendParams = z.looseObject({
  to: z.string({ error: 'must be an address: identity, identity/device or identity/device/route' }).min(1).max(400),
  id: channelNameSchema.optional(),
});

const authParams = z.looseObject({ token: z.string({ error: 'must be a user token' }).min(1).max(8192) });

export type ClientCall =
  | {
      method: 'signal.join';
      channel: string;
      presence: boolean;
      occupancy: boolean;
      /** Whether a presence newcomer gets `signal.join_back` (+ state) frames before its result (default true). */
      joinBack: boolean;
      token: string | undefined;
      since: Position | undefined;
      options: Fields;
    }
  | { method: 'signal.leave'; channel: string }
  | { method: 'signal.publish'; channel: string; fields: Fields }
  | { method: 'signal.send'; to: string; channel: string | undefined; fields: Fields }
  | { method: 'signal.auth'; token: string };

export interface ParsedFrame {
  /** Present (possibly null) when the frame is a request that expects a response. */
  id: RpcId | undefined;
  call: ClientCall;
}

export const METHODS = ['signal.join', 'signal.leave', 'signal.publish', 'signal.send', 'signal.auth'] as const;

/** Returns the request id as soon as it is known, so errors found later can still answer it. */
export function readEnvelope(value: unknown): { id: RpcId | undefined; method: string; params: Fields } {
  const result = envelopeSchema.safeParse(value);
  if (!result.success) {
    const err = fromZodError(result.error, 'bad_request', 'invalid JSON-RPC request: ');
    throw Object.assign(err, { rpcId: idOf(value) });
  }
  return { id: result.data.id, method: result.data.method, params: result.data.params ?? {} };
}

/**
 * The id of a frame refused before it is read (too big), so the refusal still answers the
 * request that sent it; null when it has none or is not JSON. The frame is bounded by uWS
 * (4 × MAX_FRAME_BYTES), so parsing it costs no more than a few legal frames.
 */
export function idOfRefusedFrame(text: string): RpcId {
  try {
    return idOf(JSON.parse(text));
  } catch {
    return null;
  }
}

/** A frame's `id` when it is a valid JSON-RPC id, for answering frames that fail validation. */
function idOf(value: unknown): RpcId {
  if (typeof value !== 'object' || value === null) return null;
  const id = rpcId.safeParse((value as { id?: unknown }).id);
  return id.success ? id.data : null;
}

export function parseCall(method: string, params: Fields): ClientCall {
  switch (method) {
    case 'signal.join': {
      const { id, presence, occupancy, joinBack, token, since, ...options } = check(joinParams, params);
      return { method, channel: id, presence: presence ?? false, occupancy: occupancy ?? false, joinBack: joinBack ?? true, token, since, options };
    }
    case 'signal.leave':
      return { method, channel: check(leaveParams, params).id };
    case 'signal.publish': {
      const { id, ...fields } = check(publishParams, params);
      return { method, channel: id, fields: withoutFrom(fields) };
    }
    case 'signal.send': {
      const { to, id, ...fields } = check(sendParams, params);
      return { method, to, channel: id, fields: withoutFrom(fields) };
    }
    case 'signal.auth':
      return { method, token: check(authParams, params).token };
    default:
      throw new SignalError('unknown_method', `method '${method}' does not exist; use one of ${METHODS.join(', ')}`, {
        field: 'method',
      });
  }
}

function check<S extends z.ZodType>(schema: S, params: Fields): z.infer<S> {
  const result = schema.safeParse(params);
  if (!result.success) throw fromZodError(result.error, 'invalid_params', 'invalid params: ');
  return result.data;
}

/** `from` is always set by the server; a client-supplied one would be a spoof. */
function withoutFrom(fields: Fields): Fields {
  if (!('from' in fields)) return fields;
  const { from: _from, ...rest } = fields;
  return rest;
}
