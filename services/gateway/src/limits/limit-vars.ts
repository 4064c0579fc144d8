import { z } from 'zod';
import { intVar } from '@signal/core';
import { parseTrustedProxies } from './client-address.js';

/**
 * The gateway's resource limits (docs/limits.md). Every count and rate a client can drive is
 * here; the defaults are set from what real apps do, and the reasons are in the docs.
 */
export const gatewayLimitVars = {
  /** Open WebSocket connections on this node, every surface together. */
  MAX_CONNECTIONS: intVar(1, 10_000_000, 100_000),
  /** Open connections of one app environment on this node: one tenant cannot take a whole node. */
  MAX_CONNECTIONS_PER_ENV: intVar(1, 10_000_000, 50_000),
  /** Open connections of one user (app, environment and identity) on this node. */
  MAX_CONNECTIONS_PER_IDENTITY: intVar(1, 1_000_000, 50),
  /** Open connections from one client address on this node (see TRUSTED_PROXIES). */
  MAX_CONNECTIONS_PER_IP: intVar(1, 10_000_000, 1000),
  /** Comma-separated IPs or CIDRs of proxies whose X-Forwarded-For is believed; empty: none. */
  TRUSTED_PROXIES: z
    .string()
    .default('')
    .superRefine((value, ctx) => {
      try {
        parseTrustedProxies(value);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
      }
    }),
  MAX_CHANNELS_PER_CONNECTION: intVar(1, 100_000, 128),
  MAX_PRESENCE_CHANNELS_PER_CONNECTION: intVar(1, 100_000, 32),
  /** Channels whose occupancy one connection follows (signal.join with occupancy: true). */
  MAX_OCCUPANCY_CHANNELS_PER_CONNECTION: intVar(1, 100_000, 32),
  JOIN_RATE: intVar(1, 1_000_000, 20),
  JOIN_BURST: intVar(1, 1_000_000, 128),
  PUBLISH_RATE: intVar(1, 1_000_000, 50),
  PUBLISH_BURST: intVar(1, 1_000_000, 100),
  SEND_RATE: intVar(1, 1_000_000, 50),
  SEND_BURST: intVar(1, 1_000_000, 100),
  /** Every frame a connection sends, of any kind, valid or not: bounds the work one socket can cause. */
  FRAME_RATE: intVar(1, 1_000_000, 200),
  FRAME_BURST: intVar(1, 1_000_000, 400),
  /** A connection refused this many times for its rates within RATE_LIMIT_WINDOW_MS is closed with 4029. */
  RATE_LIMIT_CLOSE_AFTER: intVar(1, 1_000_000, 50),
};

type LimitVars = { [K in keyof typeof gatewayLimitVars]: z.infer<(typeof gatewayLimitVars)[K]> };

/** Refusals for rates are counted over windows of this length (RATE_LIMIT_CLOSE_AFTER). */
export const RATE_LIMIT_WINDOW_MS = 10_000;

export interface GatewayLimits {
  readonly maxConnections: number;
  readonly maxConnectionsPerEnv: number;
  readonly maxConnectionsPerIdentity: number;
  readonly maxConnectionsPerIp: number;
  readonly trustedProxies: string;
  readonly maxChannels: number;
  readonly maxPresenceChannels: number;
  readonly maxOccupancyChannels: number;
  readonly join: Rate;
  readonly publish: Rate;
  readonly send: Rate;
  readonly frame: Rate;
  readonly closeAfter: number;
}

export interface Rate {
  readonly perSecond: number;
  readonly burst: number;
}

export function gatewayLimitsFrom(env: LimitVars): GatewayLimits {
  return {
    maxConnections: env.MAX_CONNECTIONS,
    maxConnectionsPerEnv: env.MAX_CONNECTIONS_PER_ENV,
    maxConnectionsPerIdentity: env.MAX_CONNECTIONS_PER_IDENTITY,
    maxConnectionsPerIp: env.MAX_CONNECTIONS_PER_IP,
    trustedProxies: env.TRUSTED_PROXIES,
    maxChannels: env.MAX_CHANNELS_PER_CONNECTION,
    maxPresenceChannels: env.MAX_PRESENCE_CHANNELS_PER_CONNECTION,
    maxOccupancyChannels: env.MAX_OCCUPANCY_CHANNELS_PER_CONNECTION,
    join: { perSecond: env.JOIN_RATE, burst: env.JOIN_BURST },
    frame: { perSecond: env.FRAME_RATE, burst: env.FRAME_BURST },
    publish: { perSecond: env.PUBLISH_RATE, burst: env.PUBLISH_BURST },
    send: { perSecond: env.SEND_RATE, burst: env.SEND_BURST },
    closeAfter: env.RATE_LIMIT_CLOSE_AFTER,
  };
}
