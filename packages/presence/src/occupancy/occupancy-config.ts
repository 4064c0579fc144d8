import { z } from 'zod';
import type { PresenceStoreSettings } from '../config/presence-config.js';

/**
 * The occupancy bucket's variable, shared by every service that opens it (gateways write it,
 * the emit-api reads it). Replicas and storage follow the presence settings.
 */
export const occupancyStoreVars = {
  /** Per-gateway channel counts (docs/presence.md#occupancy). */
  OCCUPANCY_BUCKET: z
    .string()
    .regex(/^[a-zA-Z0-9_-]{1,200}$/, { error: 'must be 1-200 of a-z, A-Z, 0-9, _ or -' })
    .default('signal_occupancy'),
};

export interface OccupancySettings {
  bucket: string;
  replicas: number;
  storage: 'memory' | 'file';
}

type OccupancyVars = { [K in keyof typeof occupancyStoreVars]: z.infer<(typeof occupancyStoreVars)[K]> };

export function occupancySettingsFrom(env: OccupancyVars, presence: Pick<PresenceStoreSettings, 'replicas' | 'storage'>): OccupancySettings {
  return { bucket: env.OCCUPANCY_BUCKET, replicas: presence.replicas, storage: presence.storage };
}
