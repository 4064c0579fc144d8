import { SignalError, type ErrorCode } from '@signal/core';
import { metrics } from '../metrics/gateway-metrics.js';

/**
 * The one way a limit says no: counted under the variable's name in lower case, and an error
 * whose message (the caller's) names the limit, its value and the variable that sets it.
 */
export function refuse(code: Extract<ErrorCode, 'limit_exceeded' | 'rate_limited'>, variable: string, message: string, field?: string): SignalError {
  metrics.limitRefusals.inc({ limit: variable.toLowerCase() });
  return new SignalError(code, message, { field, data: { limit: variable } });
}
