import type { Surface } from '../core/surface.js';

/** The uWS topic a surface's sockets subscribe to for one NATS subject. */
export function topicFor(surface: Surface, subject: string): string {
  return `${surface.name}|${subject}`;
}

/**
 * The topic for a channel's presence events (join, leave): only connections that joined
 * with presence subscribe to it, so only they, who got the participant list, see changes.
 */
export function presenceTopicFor(surface: Surface, subject: string): string {
  return `${surface.name}|${subject}|presence`;
}

/**
 * The topic for a channel's occupancy notifications, shared by both JSON-RPC dialects (the
 * frame is the same): only connections that joined with `occupancy: true` subscribe to it.
 */
export function occupancyTopicFor(subject: string): string {
  return `occupancy|${subject}`;
}
