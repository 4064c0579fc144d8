import { totalCounter } from '@signal/operations';
import { Gauge } from 'prom-client';
import type { HubStats } from '../core/hub.js';
import { registry } from './gateway-metrics.js';

/** Exposes the hub's counters; they are read at scrape time, so the hub's hot path stays a field increment. */
export function exportHubStats(stats: HubStats): void {
  new Gauge({
    name: 'signal_gateway_connections',
    help: 'Open client connections on this node',
    registers: [registry],
    collect() {
      this.set(stats.sessions);
    },
  });
  new Gauge({
    name: 'signal_gateway_subjects',
    help: 'NATS subjects this node subscribes to: channels with local members, plus the user, device and broadcast subjects of local connections',
    registers: [registry],
    collect() {
      this.set(stats.subjects);
    },
  });
  totalCounter(registry, 'signal_gateway_messages_in_total', 'Messages from NATS to deliver to local connections', () => stats.messagesIn);
  totalCounter(
    registry,
    'signal_gateway_frames_out_total',
    'Frames handed to uWebSockets.js: one per message per protocol surface with local listeners (uWS copies it to each subscribed socket), or one per direct send',
    () => stats.messagesOut,
  );
  totalCounter(registry, 'signal_gateway_frame_bytes_out_total', 'Bytes of the frames counted by signal_gateway_frames_out_total', () => stats.bytesOut);
  totalCounter(registry, 'signal_gateway_invalid_envelopes_total', 'NATS messages that were not a valid envelope and were dropped', () => stats.invalidEnvelopes);
}
