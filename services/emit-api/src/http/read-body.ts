import type { IncomingMessage } from 'node:http';
import { SignalError, assertJsonValueDepth } from '@signal/core';
import { metrics } from '../metrics/emit-metrics.js';

export interface BodyLimits {
  /** Largest body, bytes (MAX_BODY_BYTES). */
  maxBytes: number;
  /** Deepest nesting of arrays and objects (MAX_JSON_DEPTH). */
  maxDepth: number;
}

/**
 * Reads the body up to `limits.maxBytes` and parses it as JSON or as a form. Oversize bodies are
 * refused as soon as the limit is crossed (413), without buffering the rest. A value nested
 * deeper than `limits.maxDepth` is refused (400 invalid_json) before anything walks it: encoding
 * it for NATS would overflow the stack.
 */
export async function readBody(req: IncomingMessage, limits: BodyLimits): Promise<unknown> {
  const value = await parseBody(req, limits.maxBytes);
  try {
    assertJsonValueDepth(value, limits.maxDepth, 'body');
  } catch (error) {
    metrics.limitRefusals.inc({ limit: 'max_json_depth' });
    throw error;
  }
  return value;
}

async function parseBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw tooLarge(limit);
      chunks.push(chunk);
    }
  } catch (error) {
    // The client went away or was cut off (HTTP_REQUEST_TIMEOUT_MS): its input, not our fault.
    if (error instanceof SignalError) throw error;
    throw new SignalError('bad_request', 'the request body ended before it was complete');
  }
  if (size === 0) return undefined;
  const text = Buffer.concat(chunks).toString('utf8');
  const type = (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') return parseForm(text);
  if (type !== 'application/json' && !type.endsWith('+json')) {
    throw new SignalError('bad_request', `content-type ${type} is not supported; send application/json`, { field: 'content-type' });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new SignalError('invalid_json', `body is not valid JSON: ${(error as Error).message}`);
  }
}

/** Form fields are strings; `message` may hold JSON, as Stelace accepted it. */
function parseForm(text: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    if (key === 'message') {
      try {
        out[key] = JSON.parse(value);
      } catch {
        out[key] = value;
      }
    } else {
      out[key] = value;
    }
  }
  return out;
}

function tooLarge(limit: number): SignalError {
  metrics.limitRefusals.inc({ limit: 'max_body_bytes' });
  return new SignalError('payload_too_large', `request body is over the ${limit}-byte limit (MAX_BODY_BYTES)`);
}
