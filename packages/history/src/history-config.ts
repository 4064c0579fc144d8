import { intVar } from '@signal/core';

/**
 * Environment variables of channel history, shared by gateway and emit-api: both create an
 * environment's stream on first use, so they must agree on its replicas.
 */
export const historyVars = {
  /** JetStream replicas of each environment's history stream when it is created (3 on a 3-node NATS cluster). */
  HISTORY_REPLICAS: intVar(1, 5, 1),
  /** A history read (recovery, GET history) not answered by then fails with `unavailable`. */
  HISTORY_READ_TIMEOUT_MS: intVar(100, 60_000, 5000),
};
