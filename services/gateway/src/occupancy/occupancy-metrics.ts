import { Counter, Gauge } from 'prom-client';
import { registry } from '../metrics/gateway-metrics.js';

/** What occupancy costs a gateway (docs/operations.md); gauges are read at scrape time. */
export const occupancyStats = {
  /** Channels with local connections (one occupancy key each). */
  channels: 0,
  /** Channels watched because local connections subscribed to their occupancy. */
  feeds: 0,
  /** Occupancy subscriptions of local connections. */
  subscriptions: 0,
};

export const occupancyMetrics = {
  channels: new Gauge({
    name: 'signal_gateway_occupancy_channels',
    help: "Channels with connections on this gateway, each with a key in the occupancy bucket",
    registers: [registry],
    collect() {
      this.set(occupancyStats.channels);
    },
  }),
  feeds: new Gauge({
    name: 'signal_gateway_occupancy_feeds',
    help: 'Channels whose cluster-wide occupancy this gateway watches for subscribed connections',
    registers: [registry],
    collect() {
      this.set(occupancyStats.feeds);
    },
  }),
  subscriptions: new Gauge({
    name: 'signal_gateway_occupancy_subscriptions',
    help: 'Occupancy subscriptions (signal.join with occupancy: true) of connections on this gateway',
    registers: [registry],
    collect() {
      this.set(occupancyStats.subscriptions);
    },
  }),
  writes: new Counter({
    name: 'signal_gateway_occupancy_writes_total',
    help: 'Writes of this gateway to the occupancy bucket, by operation (put, delete) and result (ok, failed)',
    labelNames: ['op', 'result'] as const,
    registers: [registry],
  }),
  updates: new Counter({
    name: 'signal_gateway_occupancy_updates_total',
    help: 'signal.occupancy notifications published, one per channel per change (uWS fans each out to the subscribers)',
    registers: [registry],
  }),
};
