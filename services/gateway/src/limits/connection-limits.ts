import type { Scope } from '@signal/core';
import type { GatewayLimits } from './limit-vars.js';
import { refuse } from './refusal.js';

/** Who a connection turned out to be, once authenticated. */
export interface ConnectionOwner {
  readonly scope: Scope;
  readonly identity: string;
  readonly anonymous: boolean;
}

/**
 * Open connections on this node: in total, per app environment, per identity and per client
 * address. A connection is admitted in two steps because the Stelace surface learns who it
 * is only after the socket is open: `admit` (node and address, at the upgrade) and
 * `ConnectionTicket.identify` (environment and identity, once authenticated). Counts are per
 * node: a cluster-wide count would cost a NATS round trip per connection.
 */
export class ConnectionLimits {
  private total = 0;
  private readonly perIp = new Map<string, number>();
  private readonly perEnv = new Map<string, number>();
  private readonly perIdentity = new Map<string, number>();

  constructor(private readonly limits: GatewayLimits) {}

  /** Throws limit_exceeded if this node or this address is full; otherwise counts the connection. */
  admit(ip: string): ConnectionTicket {
    const { maxConnections, maxConnectionsPerIp } = this.limits;
    if (this.total >= maxConnections) {
      throw refuse('limit_exceeded', 'MAX_CONNECTIONS', `this node has ${maxConnections} connections, the most it takes (MAX_CONNECTIONS); connect again later`);
    }
    if ((this.perIp.get(ip) ?? 0) >= maxConnectionsPerIp) {
      throw refuse('limit_exceeded', 'MAX_CONNECTIONS_PER_IP', `${ip} already has ${maxConnectionsPerIp} connections to this node, the most allowed (MAX_CONNECTIONS_PER_IP)`);
    }
    this.total++;
    increment(this.perIp, ip);
    return new ConnectionTicket(this, ip);
  }

  /** Open connections on this node. */
  get size(): number {
    return this.total;
  }

  /** @internal for ConnectionTicket */
  identify(owner: ConnectionOwner): [string, string | undefined] {
    const { maxConnectionsPerEnv, maxConnectionsPerIdentity } = this.limits;
    const env = `${owner.scope.app}/${owner.scope.env}`;
    // Anonymous connections share one identity; they are bounded by address and environment instead.
    const identity = owner.anonymous ? undefined : `${env}/${owner.identity}`;
    if ((this.perEnv.get(env) ?? 0) >= maxConnectionsPerEnv) {
      throw refuse('limit_exceeded', 'MAX_CONNECTIONS_PER_ENV', `app ${owner.scope.app} (${owner.scope.env}) has ${maxConnectionsPerEnv} connections to this node, the most allowed (MAX_CONNECTIONS_PER_ENV)`);
    }
    if (identity !== undefined && (this.perIdentity.get(identity) ?? 0) >= maxConnectionsPerIdentity) {
      throw refuse('limit_exceeded', 'MAX_CONNECTIONS_PER_IDENTITY', `${owner.identity} already has ${maxConnectionsPerIdentity} connections to this node, the most allowed (MAX_CONNECTIONS_PER_IDENTITY); close some`);
    }
    increment(this.perEnv, env);
    if (identity !== undefined) increment(this.perIdentity, identity);
    return [env, identity];
  }

  /** @internal for ConnectionTicket */
  release(ip: string, env: string | undefined, identity: string | undefined): void {
    this.total--;
    decrement(this.perIp, ip);
    if (env !== undefined) decrement(this.perEnv, env);
    if (identity !== undefined) decrement(this.perIdentity, identity);
  }
}

/** One admitted connection's place in the counts; released exactly once, when it closes. */
export class ConnectionTicket {
  private env: string | undefined;
  private identity: string | undefined;
  private released = false;

  constructor(
    private readonly counts: ConnectionLimits,
    readonly ip: string,
  ) {}

  /** Throws limit_exceeded if the owner's environment or identity is full; otherwise counts it. */
  identify(owner: ConnectionOwner): void {
    [this.env, this.identity] = this.counts.identify(owner);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.counts.release(this.ip, this.env, this.identity);
  }
}

function increment(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/** Keys at zero are dropped, so the maps hold only addresses and users that are connected. */
function decrement(counts: Map<string, number>, key: string): void {
  const left = (counts.get(key) ?? 1) - 1;
  if (left <= 0) counts.delete(key);
  else counts.set(key, left);
}
