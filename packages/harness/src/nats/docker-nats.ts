import { trackResource, untrackResource } from '../cleanup/resources.js';
import { HarnessError } from '../errors/harness-error.js';
import type { NatsServer, StartNatsOptions } from './nats-server.js';

const IMAGE = 'nats:2.10';
const CLIENT_PORT = 4222;
const MONITOR_PORT = 8222;
const CREDENTIAL_FLAGS = new Set(['--user', '--pass']);

/** Why no Docker engine can be used, or undefined when one can. testcontainers loads only here, because it is slow to import. */
export async function dockerProblem(): Promise<string | undefined> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/**
 * NATS in a container. The container is not stopped by the synchronous exit hook;
 * testcontainers' reaper (Ryuk) removes it when this process dies.
 */
export async function startDockerNats(options: StartNatsOptions): Promise<NatsServer> {
  const { NatsContainer } = await import('@testcontainers/nats');
  const extraArgs = ['-m', String(MONITOR_PORT), ...(options.args ?? [])];

  class OpenNatsContainer extends NatsContainer {
    // NatsContainer always adds --user/--pass, but services connect with a bare NATS_URL;
    // its start() builds the command through withCommand, so the flags are dropped here.
    // Replacing the image's command also drops its config file, hence the explicit -m.
    override withCommand(command: string[]): this {
      return super.withCommand([...withoutCredentials(command), ...extraArgs]);
    }
  }

  const container = new OpenNatsContainer(IMAGE);
  const started = await (options.jetstream === false ? container : container.withJetStream()).start();
  const port = started.getMappedPort(CLIENT_PORT);
  const refuse = async (operation: string): Promise<void> => {
    throw new HarnessError(
      'fault_unsupported',
      `${operation}() is not supported for NATS in Docker (a restarted container may get new host ports); install nats-server (e.g. \`apt-get install nats-server\`, or set NATS_SERVER_BIN) to run fault tests`,
    );
  };
  let stopped = false;
  const server: NatsServer = {
    url: `nats://${started.getHost()}:${port}`,
    port,
    monitorPort: started.getMappedPort(MONITOR_PORT),
    storeDir: '',
    pid: undefined,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      untrackResource('nats', server);
      await started.stop();
    },
    kill: () => refuse('kill'),
    restart: () => refuse('restart'),
  };
  trackResource('nats', server);
  return server;
}

function withoutCredentials(command: string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < command.length; i++) {
    const arg = command[i] as string;
    if (CREDENTIAL_FLAGS.has(arg)) i++;
    else kept.push(arg);
  }
  return kept;
}
