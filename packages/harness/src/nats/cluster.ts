import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '../cleanup/temp-dirs.js';
import { HarnessError } from '../errors/harness-error.js';
import { freePorts } from '../net/free-port.js';
import { findNatsBinary } from './find-binary.js';
import { LocalNats } from './local-nats.js';
import { routeCount } from './monitor.js';
import type { NatsCluster } from './nats-server.js';
import { retryOnPortClash } from './start-nats.js';

/** Route mesh plus JetStream meta-leader election takes longer than a single server start. */
const CLUSTER_READY_TIMEOUT_MS = 20_000;

interface NodePorts {
  name: string;
  client: number;
  monitor: number;
  route: number;
}

/**
 * A full-mesh cluster of local nats-server processes with clustered JetStream.
 * Always local: NATS_URL and Docker cannot provide per-node kill/restart.
 */
export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  if (!Number.isInteger(size) || size < 2) {
    throw new HarnessError('invalid_argument', `startNatsCluster(size) needs an integer size of at least 2, got ${size}`);
  }
  const bin = await findNatsBinary();
  if (bin === undefined) {
    throw new HarnessError(
      'nats_binary_missing',
      'startNatsCluster needs a local nats-server binary: install it (e.g. `apt-get install nats-server`) or set NATS_SERVER_BIN to its path',
    );
  }
  return retryOnPortClash(() => launchCluster(bin, size));
}

async function launchCluster(bin: string, size: number): Promise<NatsCluster> {
  const ports = await freePorts(size * 3);
  const nodes: NodePorts[] = Array.from({ length: size }, (_, i) => ({
    name: `n${i + 1}`,
    client: ports[i * 3] as number,
    monitor: ports[i * 3 + 1] as number,
    route: ports[i * 3 + 2] as number,
  }));
  const servers: LocalNats[] = [];
  for (const node of nodes) {
    const tempDir = await makeTempDir(`nats-${node.name}`);
    const storeDir = join(tempDir, 'store');
    const configPath = join(tempDir, 'nats.conf');
    await writeFile(configPath, nodeConfig(node, storeDir, nodes));
    servers.push(
      new LocalNats({
        label: `nats-server cluster node ${node.name}`,
        bin,
        args: ['-c', configPath],
        port: node.client,
        monitorPort: node.monitor,
        storeDir,
        tempDir,
        readyTimeoutMs: CLUSTER_READY_TIMEOUT_MS,
        isReady: async () => (await routeCount(node.monitor)) === size - 1,
      }),
    );
  }
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  for (const server of servers) server.launch();
  try {
    await Promise.all(servers.map((s) => s.waitReady()));
  } catch (error) {
    await stop();
    throw error;
  }
  const urls = servers.map((s) => s.url);
  return { servers, urls, url: urls.join(','), stop };
}

function nodeConfig(node: NodePorts, storeDir: string, all: readonly NodePorts[]): string {
  const routes = all.filter((other) => other !== node).map((other) => `    ${JSON.stringify(`nats-route://127.0.0.1:${other.route}`)}`);
  return [
    `server_name: ${JSON.stringify(node.name)}`,
    `listen: "127.0.0.1:${node.client}"`,
    `http: "127.0.0.1:${node.monitor}"`,
    'jetstream {',
    `  store_dir: ${JSON.stringify(storeDir)}`,
    '}',
    'cluster {',
    '  name: "signal-harness"',
    `  listen: "127.0.0.1:${node.route}"`,
    '  routes: [',
    ...routes,
    '  ]',
    '}',
    '',
  ].join('\n');
}
