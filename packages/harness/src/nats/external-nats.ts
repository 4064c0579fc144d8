import { HarnessError } from '../errors/harness-error.js';
import type { NatsServer } from './nats-server.js';

/** A handle for a server named by NATS_URL, which the harness neither started nor may stop. */
export function externalNats(url: string): NatsServer {
  const first = url.split(',')[0]?.trim() ?? url;
  const port = Number(new URL(first).port || 4222);
  const refuse = async (operation: string): Promise<void> => {
    throw new HarnessError(
      'fault_unsupported',
      `${operation}() needs a nats-server the harness started, but NATS_URL=${url} points at an external one; unset NATS_URL and install nats-server (or set NATS_SERVER_BIN) to run fault tests`,
    );
  };
  return {
    url,
    port,
    monitorPort: 0,
    storeDir: '',
    pid: undefined,
    stop: async () => {},
    kill: () => refuse('kill'),
    restart: () => refuse('restart'),
  };
}
