/** Processes die before their directories go, so nothing writes into a dir being removed. */
export type CleanupPhase = 'processes' | 'files';

const cleanups: Record<CleanupPhase, Array<() => void>> = { processes: [], files: [] };
let installed = false;

/**
 * Last-resort cleanup for runs that end without stopAll(): a crashed test file, an
 * uncaught exception, Ctrl-C on a dev script. Only synchronous work is possible then.
 */
export function addExitCleanup(phase: CleanupPhase, cleanup: () => void): void {
  cleanups[phase].push(cleanup);
  if (installed) return;
  installed = true;
  process.on('exit', runCleanups);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
}

function runCleanups(): void {
  for (const cleanup of [...cleanups.processes, ...cleanups.files]) {
    try {
      cleanup();
    } catch {
      // The process is going away; one failed cleanup must not prevent the others.
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  // Listening at all disables Node's default "die on signal". If the application
  // listens too, it owns shutdown (and the 'exit' hook still runs); otherwise
  // clean up and re-raise so the process dies the way it would have without us.
  if (process.listenerCount(signal) > 1) return;
  runCleanups();
  process.removeListener(signal, onSignal);
  process.kill(process.pid, signal);
}
