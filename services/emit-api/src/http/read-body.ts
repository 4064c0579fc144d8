import type { IncomingMessage } from 'node:http';
import { SignalError, assertJsonValueDepth, jsonTextTooDeep } from '@signal/core';
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
  const { value, deep } = await parseBody(req, limits);
  // The scan of the text costs nothing per value; only a body it finds too deep is walked, to
  // name the field that holds the deep value.
  if (!deep) return value;
  try {
    assertJsonValueDepth(value, limits.maxDepth, 'body');
  } catch (error) {
    metrics.limitRefusals.inc({ limit: 'max_json_depth' });
    throw error;
  }
  return value;
}

async function parseBody(req: IncomingMessage, limits: BodyLimits): Promise<{ value: unknown; deep: boolean }> {
  const limit = limits.maxBytes;
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
  if (size === 0) return { value: undefined, deep: false };
  const text = Buffer.concat(chunks).toString('utf8');
  const type = (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') return parseForm(text, limits.maxDepth);
  if (type !== 'application/json' && !type.endsWith('+json')) {
    throw new SignalError('bad_request', `content-type ${type} is not supported; send application/json`, { field: 'content-type' });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SignalError('invalid_json', `body is not valid JSON: ${(error as Error).message}`);
  }
  return { value, deep: jsonTextTooDeep(text, limits.maxDepth) };
}

/** Form fields are strings; `message` may hold JSON, as Stelace accepted it (one level below the form). */
function parseForm(text: string, maxDepth: number): { value: Record<string, unknown>; deep: boolean } {
  const out: Record<string, unknown> = {};
  let deep = false;
  for (const [key, value] of new URLSearchParams(text)) {
    if (key === 'message') {
      try {
        out[key] = JSON.parse(value);
        deep ||= jsonTextTooDeep(value, maxDepth - 1);
      } catch {
        out[key] = value;
      }
    } else {
      out[key] = value;
    }
  }
  return { value: out, deep };
}

function tooLarge(limit: number): SignalError {
  metrics.limitRefusals.inc({ limit: 'max_body_bytes' });
  return new SignalError('payload_too_large', `request body is over the ${limit}-byte limit (MAX_BODY_BYTES)`);
}
