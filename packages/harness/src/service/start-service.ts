import { trackResource, untrackResource } from '../cleanup/resources.js';
import { HarnessError, withOutput } from '../errors/harness-error.js';
import { TrackedChild, type ExitStatus } from '../process/tracked-child.js';

const DEFAULT_READY_TIMEOUT_MS = 15_000;
const DEFAULT_WAIT_FOR_LINE_MS = 10_000;
const DEFAULT_STOP_GRACE_MS = 10_000;
const OUTPUT_LINES_IN_ERRORS = 40;

export interface StartServiceOptions {
  /** Absolute path of the JS file to run with node, e.g. services/gateway/dist/main.js. */
  entry: string;
  /** Merged over process.env. */
  env: Record<string, string>;
  /** Default 15 s. */
  readyTimeoutMs?: number;
  /** Names the service in error messages; defaults to `entry`. */
  name?: string;
  /** Called with every output line as it arrives (the dev script streams logs this way). */
  onLine?: (line: string) => void;
}

export interface ServiceProcess {
  pid: number;
  /** Fields of the log line that announced readiness (`"msg":"ready"`). */
  ready: Record<string, unknown>;
  /** All output lines so far, stdout and stderr interleaved in arrival order. */
  lines(): string[];
  /** Resolves with the first line, already printed or still to come, that matches. Default timeout 10 s. */
  waitForLine(predicate: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Sends `signal` (default SIGTERM), SIGKILLs after `timeoutMs` (default 10 s); resolves with the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
  exited: Promise<ExitStatus>;
}

/** Runs a service with node and resolves once it logs `"msg":"ready"`. */
export async function startService(options: StartServiceOptions): Promise<ServiceProcess> {
  const name = options.name ?? options.entry;
  const child = new TrackedChild(process.execPath, [options.entry], { ...process.env, ...options.env });
  if (options.onLine) child.output.onLine((line) => options.onLine!(line));
  // Tracked from the first moment, so stopAll() during a slow start still reaps it.
  const starting = { stop: () => child.terminate('SIGKILL', 0) };
  trackResource('service', starting);
  let ready: Record<string, unknown>;
  try {
    ready = await waitForReady(child, name, options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
  } catch (error) {
    await child.terminate('SIGKILL', 0);
    throw error;
  } finally {
    untrackResource('service', starting);
  }
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = DEFAULT_STOP_GRACE_MS): Promise<number | null> => {
    untrackResource('service', service);
    return (await child.terminate(signal, timeoutMs)).code;
  };
  const service: ServiceProcess = {
    // A process that logged its ready line was spawned, so it has a pid.
    pid: child.pid as number,
    ready,
    lines: () => child.output.all(),
    waitForLine: (predicate, timeoutMs = DEFAULT_WAIT_FOR_LINE_MS) => waitForLine(child, name, predicate, timeoutMs),
    stop,
    kill: async () => {
      await stop('SIGKILL');
    },
    exited: child.exited,
  };
  trackResource('service', service);
  return service;
}

function waitForReady(child: TrackedChild, name: string, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const finish = (): void => {
      clearTimeout(timer);
      unsubscribe();
    };
    const unsubscribe = child.output.onLine((line, stream) => {
      if (stream !== 'stdout') return;
      const fields = readyFields(line);
      if (fields === undefined) return;
      finish();
      resolve(fields);
    });
    const timer = setTimeout(() => {
      finish();
      reject(
        new HarnessError(
          'start_timeout',
          withOutput(
            `${name} did not log {"msg":"ready"} within ${timeoutMs} ms; check its configuration below, or raise readyTimeoutMs`,
            child.output.tail(OUTPUT_LINES_IN_ERRORS),
          ),
        ),
      );
    }, timeoutMs);
    void child.exited.then((status) => {
      finish();
      reject(
        new HarnessError(
          'start_failed',
          withOutput(`${name} exited (${describeExit(status)}) before logging {"msg":"ready"}; fix the error below`, child.output.tail(OUTPUT_LINES_IN_ERRORS)),
        ),
      );
    });
  });
}

function readyFields(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const parsed: unknown = JSON.parse(line);
    if (parsed !== null && typeof parsed === 'object' && (parsed as Record<string, unknown>)['msg'] === 'ready') {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // Not every line a service prints is JSON (e.g. a Node warning); it just is not the ready line.
  }
  return undefined;
}

function waitForLine(child: TrackedChild, name: string, predicate: (line: string) => boolean, timeoutMs: number): Promise<string> {
  const seen = child.output.all().find(predicate);
  if (seen !== undefined) return Promise.resolve(seen);
  return new Promise((resolve, reject) => {
    const finish = (): void => {
      clearTimeout(timer);
      unsubscribe();
    };
    const unsubscribe = child.output.onLine((line) => {
      if (!predicate(line)) return;
      finish();
      resolve(line);
    });
    const timer = setTimeout(() => {
      finish();
      reject(
        new HarnessError(
          'wait_timeout',
          withOutput(`${name} printed no matching line within ${timeoutMs} ms`, child.output.tail(OUTPUT_LINES_IN_ERRORS)),
        ),
      );
    }, timeoutMs);
    void child.exited.then((status) => {
      finish();
      reject(
        new HarnessError(
          'process_exited',
          withOutput(`${name} exited (${describeExit(status)}) without printing a matching line`, child.output.tail(OUTPUT_LINES_IN_ERRORS)),
        ),
      );
    });
  });
}

function describeExit(status: ExitStatus): string {
  return status.signal !== null ? `signal ${status.signal}` : `code ${status.code}`;
}
