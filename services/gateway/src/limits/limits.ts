import { ClientAddresses } from './client-address.js';
import { ConnectionLimits } from './connection-limits.js';
import type { GatewayLimits } from './limit-vars.js';
import { RequestLimits } from './request-limits.js';

/** Every resource rule of a gateway node, in one place that every surface asks. */
export class Limits {
  readonly addresses: ClientAddresses;
  readonly connections: ConnectionLimits;
  readonly requests: RequestLimits;

  constructor(limits: GatewayLimits) {
    this.addresses = new ClientAddresses(limits.trustedProxies);
    this.connections = new ConnectionLimits(limits);
    this.requests = new RequestLimits(limits);
  }
}
