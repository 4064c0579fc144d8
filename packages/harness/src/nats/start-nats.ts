import { makeTempDir } from '../cleanup/temp-dirs.js';
import { HarnessError, isHarnessError } from '../errors/harness-error.js';
import { freePorts } from '../net/free-port.js';
import { dockerProblem, startDockerNats } from './docker-nats.js';
import { externalNats } from './external-nats.js';
import { findNatsBinary } from './find-binary.js';
import { LocalNats } from './local-nats.js';
import type { NatsServer, StartNatsOptions } from './nats-server.js';

export const NATS_READY_TIMEOUT_MS = 10_000;

/**
 * A NATS server for one test file or dev session: NATS_URL if set, else a local
 * nats-server binary, else Docker. With a `configFile`, always a local nats-server of its own
 * (a server that ignored the file would pass tests it should fail).
 */
export async function startNats(options: StartNatsOptions = {}): Promise<NatsServer> {
  if (options.configFile !== undefined) {
    const configured = await findNatsBinary();
    if (configured === undefined) {
      throw new HarnessError(
        'nats_binary_missing',
        'starting NATS with a configuration file needs a local nats-server (e.g. `apt-get install nats-server`, or set NATS_SERVER_BIN to its path)',
      );
    }
    return retryOnPortClash(() => startLocalNats(configured, options));
  }
  const external = process.env['NATS_URL'];
  if (external) return externalNats(external);
  const bin = await findNatsBinary();
  if (bin !== undefined) return retryOnPortClash(() => startLocalNats(bin, options));
  const problem = await dockerProblem();
  if (problem === undefined) return startDockerNats(options);
  throw new HarnessError(
    'nats_unavailable',
    'No NATS server available. Install nats-server (e.g. `apt-get install nats-server`, or set NATS_SERVER_BIN to its path), ' +
      `or set NATS_URL to a running server, or run with a Docker engine available (Docker: ${problem}).`,
  );
}

/** Free ports are only free until someone else takes them; one retry with fresh ones covers that race. */
export async function retryOnPortClash<T>(start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    if (isHarnessError(error, 'port_in_use')) return start();
    throw error;
  }
}

async function startLocalNats(bin: string, options: StartNatsOptions): Promise<NatsServer> {
  const [port, monitorPort] = (await freePorts(2)) as [number, number];
  const storeDir = await makeTempDir('nats');
  const jetstream = options.jetstream === false ? [] : ['-js', '-sd', storeDir];
  const server = new LocalNats({
    label: 'nats-server',
    bin,
    args: [
      ...(options.configFile === undefined ? [] : ['-c', options.configFile]),
      '-a', '127.0.0.1', '-p', String(port), '-m', String(monitorPort), ...jetstream, ...(options.args ?? []),
    ],
    env: options.env === undefined ? undefined : { ...process.env, ...options.env },
    port,
    monitorPort,
    storeDir,
    tempDir: storeDir,
    readyTimeoutMs: NATS_READY_TIMEOUT_MS,
  });
  server.launch();
  try {
    await server.waitReady();
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}
