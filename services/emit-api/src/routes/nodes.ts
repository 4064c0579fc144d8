import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NatsConnection } from '@nats-io/transport-node';
import { SignalError } from '@signal/core';
import { decodeNodeRecord, nodeViewOf, readLatest, type NodeView } from '@signal/presence';
import { sendJson } from '../http/respond.js';
import { requireSecretKey, type SecretKeys } from '../http/secret-key.js';

export interface NodesRouteOptions {
  /** The presence bucket (PRESENCE_BUCKET); heartbeats live in `<bucket>_nodes`. */
  bucket: string;
  /** A gateway whose last beat is older is not alive (PRESENCE_NODE_TIMEOUT_MS). */
  nodeTimeoutMs: number;
  readTimeoutMs: number;
}

/**
 * GET /v1/nodes: every gateway's heartbeat record, as `signal nodes --all` shows them. The list
 * is the whole cluster's, not one tenant's (connection counts cover every app), so it takes a
 * secret key with the `nodes` permission.
 */
export function nodesRoute(nc: NatsConnection, keys: SecretKeys, options: NodesRouteOptions) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const grant = requireSecretKey(req, keys);
    if (!grant.permissions.has('nodes')) {
      throw new SignalError('forbidden', "this secret key lacks the 'nodes' permission (the node list is the whole cluster's); add \"nodes\" to its permissions in the apps file");
    }
    const records = await readLatest(nc, `${options.bucket}_nodes`, '>', options.readTimeoutMs);
    const now = Date.now();
    const nodes: NodeView[] = [];
    for (const record of records) {
      const decoded = record.deleted ? undefined : decodeNodeRecord(record.value);
      if (decoded !== undefined) nodes.push(nodeViewOf(decoded, now, options.nodeTimeoutMs));
    }
    sendJson(res, 200, { nodes: nodes.sort((a, b) => a.node.localeCompare(b.node)) });
  };
}
