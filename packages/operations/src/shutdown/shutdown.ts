import type { Logger } from 'pino';
import type { Readiness } from '../readiness/readiness.js';

/**
 * Shutdown runs these stages in order, each stage's hooks in the order they were added:
 * - `stop-intake`: refuse new work (close listeners, refuse upgrades and requests).
 * - `close-clients`: end what is in flight (gateway: close every socket with 1001).
 * - `release`: give back shared state while NATS is still connected (presence entries and
 *   their leave events, heartbeats).
 * - `disconnect`: drain and close the NATS connection.
 */
export const SHUTDOWN_STAGES = ['stop-intake', 'close-clients', 'release', 'disconnect'] as const;
export type ShutdownStage = (typeof SHUTDOWN_STAGES)[number];

export type ShutdownHook = () => void | Promise<void>;

export interface ShutdownOptions {
  /** The whole sequence, delay included, must finish within this; else the process exits with 1. */
  timeoutMs: number;
  /** Between reporting not-ready and the first stage, for load balancers that poll readiness. */
  delayMs: number;
  readiness: Readiness;
  log: Logger;
  exit?: (code: number) => void;
}

interface Hook {
  stage: ShutdownStage;
  name: string;
  run: ShutdownHook;
}

/**
 * Graceful shutdown with a deadline: readiness goes false at once, then the stages run; the
 * process exits when they are done or when the deadline passes, whichever comes first.
 */
export class Shutdown {
  private readonly hooks: Hook[] = [];
  private running: Promise<void> | undefined;
  private current = 'delay';
  private readonly exit: (code: number) => void;

  constructor(private readonly options: ShutdownOptions) {
    this.exit = options.exit ?? ((code) => process.exit(code));
  }

  add(stage: ShutdownStage, name: string, run: ShutdownHook): void {
    if (this.running) throw new Error(`shutdown hook '${name}' added after shutdown began`);
    this.hooks.push({ stage, name, run });
  }

  get started(): boolean {
    return this.running !== undefined;
  }

  /** SIGTERM (orchestrators) and SIGINT (a terminal) both shut down gracefully. */
  handleSignals(): void {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.on(signal, () => void this.begin(signal));
    }
  }

  /** Starts the sequence once; later calls return the same run. */
  begin(reason: string, exitCode = 0): Promise<void> {
    if (this.running) {
      this.options.log.info({ reason }, 'already shutting down');
      return this.running;
    }
    this.running = this.run(reason, exitCode);
    return this.running;
  }

  private async run(reason: string, exitCode: number): Promise<void> {
    const { log, readiness, timeoutMs, delayMs } = this.options;
    const started = Date.now();
    readiness.markDraining();
    log.info({ reason, timeoutMs, delayMs }, 'shutting down');
    let exited = false;
    const deadline = setTimeout(() => {
      exited = true;
      log.error({ stage: this.current, timeoutMs }, 'shutdown deadline passed; exiting now');
      this.exit(1);
    }, timeoutMs);
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    for (const stage of SHUTDOWN_STAGES) {
      for (const hook of this.hooks.filter((h) => h.stage === stage)) {
        this.current = `${stage}/${hook.name}`;
        try {
          await hook.run();
        } catch (error) {
          log.error({ err: error, stage, hook: hook.name }, 'shutdown step failed; continuing');
        }
      }
    }
    clearTimeout(deadline);
    if (exited) return;
    log.info({ ms: Date.now() - started }, 'stopped');
    this.exit(exitCode);
  }
}
