import { trackResource, untrackResource } from '../cleanup/resources.js';
import { removeTempDir } from '../cleanup/temp-dirs.js';
import { HarnessError, withOutput } from '../errors/harness-error.js';
import { TrackedChild } from '../process/tracked-child.js';
import { pollUntil } from '../wait/poll-until.js';
import { isServing } from './monitor.js';
import type { NatsServer } from './nats-server.js';

const STOP_GRACE_MS = 10_000;
const OUTPUT_LINES_IN_ERRORS = 20;

export interface LocalNatsSpec {
  /** Names the server in error messages. */
  label: string;
  bin: string;
  /** Must make the server listen on `port` and `monitorPort`, storing JetStream data under `storeDir`. */
  args: readonly string[];
  /** Environment of the server process; this process's own when undefined. */
  env?: NodeJS.ProcessEnv | undefined;
  port: number;
  monitorPort: number;
  storeDir: string;
  /** Removed by stop(); holds storeDir and any config file. */
  tempDir: string;
  readyTimeoutMs: number;
  /** Readiness beyond "healthy on our port", e.g. all cluster routes up. */
  isReady?: () => Promise<boolean>;
}

/** A nats-server process owned by the harness, restartable on the same ports and store. */
export class LocalNats implements NatsServer {
  readonly url: string;
  readonly port: number;
  readonly monitorPort: number;
  readonly storeDir: string;
  readonly #spec: LocalNatsSpec;
  #child: TrackedChild | undefined;
  #stopped = false;

  constructor(spec: LocalNatsSpec) {
    this.#spec = spec;
    this.url = `nats://127.0.0.1:${spec.port}`;
    this.port = spec.port;
    this.monitorPort = spec.monitorPort;
    this.storeDir = spec.storeDir;
    trackResource('nats', this);
  }

  get pid(): number | undefined {
    return this.#child?.running ? this.#child.pid : undefined;
  }

  /** Spawns without waiting, so cluster nodes can start together and find each other. */
  launch(): void {
    this.#child = new TrackedChild(this.#spec.bin, this.#spec.args, this.#spec.env);
  }

  async waitReady(): Promise<void> {
    const child = this.#child;
    if (child === undefined) throw new HarnessError('invalid_state', `${this.#spec.label}: waitReady() called before launch()`);
    const { port, monitorPort, isReady, readyTimeoutMs, label } = this.#spec;
    const outcome = await pollUntil(async () => (await isServing(monitorPort, port)) && (isReady === undefined || (await isReady())), {
      timeoutMs: readyTimeoutMs,
      giveUp: () => !child.running,
    });
    if (outcome === 'ready') return;
    if (outcome === 'timeout') {
      await child.terminate('SIGKILL', 0);
      throw new HarnessError(
        'start_timeout',
        withOutput(
          `${label} (client port ${port}, monitor port ${monitorPort}) was not ready within ${readyTimeoutMs} ms; look for errors below, or a machine too loaded to start it in time`,
          child.output.tail(OUTPUT_LINES_IN_ERRORS),
        ),
      );
    }
    const status = await child.exited;
    const output = child.output.tail(OUTPUT_LINES_IN_ERRORS);
    if (output.some((line) => line.includes('address already in use'))) {
      throw new HarnessError(
        'port_in_use',
        withOutput(`${label} could not bind one of its ports (client ${port}, monitor ${monitorPort}); another process took it`, output),
      );
    }
    throw new HarnessError(
      'start_failed',
      withOutput(
        `${label} exited with ${status.signal ?? `code ${status.code}`} before becoming ready; fix the error below or the command line \`${this.#spec.bin} ${this.#spec.args.join(' ')}\``,
        output,
      ),
    );
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    untrackResource('nats', this);
    await this.#child?.terminate('SIGTERM', STOP_GRACE_MS);
    await removeTempDir(this.#spec.tempDir);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.#assertNotStopped('kill');
    await this.#child?.terminate(signal, STOP_GRACE_MS);
  }

  async restart(): Promise<void> {
    this.#assertNotStopped('restart');
    await this.#child?.terminate('SIGTERM', STOP_GRACE_MS);
    this.launch();
    await this.waitReady();
  }

  #assertNotStopped(operation: string): void {
    if (this.#stopped) {
      throw new HarnessError(
        'invalid_state',
        `${this.#spec.label}: ${operation}() after stop(); stop() deletes the store dir, use kill() to keep it for a restart()`,
      );
    }
  }
}
