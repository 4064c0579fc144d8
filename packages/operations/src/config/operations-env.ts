import { z } from 'zod';
import { intVar } from '@signal/core';

/**
 * Variables every service reads for its admin port and shutdown, to spread into the service's
 * own env schema. Each service has its own default admin port so both run side by side locally.
 */
export function operationsEnv(defaultAdminPort: number) {
  return {
    /** Listen address of the admin HTTP server (health, readiness, metrics). */
    ADMIN_HOST: z.string().min(1).default('0.0.0.0'),
    /** Port of the admin HTTP server; 0 picks a free one (logged in the `ready` line as adminPort). */
    ADMIN_PORT: intVar(0, 65535, defaultAdminPort),
    /** After SIGTERM: time from reporting not-ready to closing listeners, for load balancers that poll readiness. */
    SHUTDOWN_DELAY_MS: intVar(0, 600_000, 0),
    /** After SIGTERM: the process exits by this deadline, finished or not (exit code 1 if not). */
    SHUTDOWN_TIMEOUT_MS: intVar(100, 3_600_000, 20_000),
  };
}

export interface OperationsConfig {
  ADMIN_HOST: string;
  ADMIN_PORT: number;
  SHUTDOWN_DELAY_MS: number;
  SHUTDOWN_TIMEOUT_MS: number;
}
