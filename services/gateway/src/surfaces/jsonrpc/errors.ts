import type { ErrorCode, SignalError } from '@signal/core';
import type { RpcId } from './frames.js';

/** JSON-RPC codes for our stable error codes; `data.code` carries the stable code itself. */
const RPC_CODES: Record<ErrorCode, number> = {
  invalid_json: -32700,
  bad_request: -32600,
  unknown_method: -32601,
  // HTTP only (emit-api); listed because every code needs a JSON-RPC twin.
  method_not_allowed: -32601,
  invalid_params: -32602,
  internal: -32603,
  unauthorized: -32001,
  forbidden: -32003,
  not_found: -32004,
  not_joined: -32009,
  payload_too_large: -32013,
  limit_exceeded: -32029,
  rate_limited: -32030,
  unavailable: -32050,
  config_invalid: -32603,
};

export function rpcError(id: RpcId | undefined, error: SignalError): string {
  // What a refusal names (a forbidden channel and operation) travels next to the code.
  const details = typeof error.data === 'object' && error.data !== null && !Array.isArray(error.data) ? error.data : {};
  const data: Record<string, unknown> = { ...details, code: error.code };
  if (error.field !== undefined) data.field = error.field;
  return JSON.stringify({ jsonrpc: '2.0', id: id ?? null, error: { code: RPC_CODES[error.code], message: error.message, data } });
}

export function rpcResult(id: RpcId, result: unknown): string {
  return JSON.stringify({ jsonrpc: '2.0', id, result });
}
