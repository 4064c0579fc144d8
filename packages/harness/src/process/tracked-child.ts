import { spawn, type ChildProcess } from 'node:child_process';
import { addExitCleanup } from '../cleanup/exit-hook.js';
import { OutputLog } from './output-log.js';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const alive = new Set<ChildProcess>();
let hooked = false;

/**
 * A child process with piped output whose exit is always observed, and which is
 * SIGKILLed if this process exits while it is still running.
 */
export class TrackedChild {
  readonly output = new OutputLog();
  /** Resolves once the process is gone and all of its output has been read. */
  readonly exited: Promise<ExitStatus>;
  readonly pid: number | undefined;
  readonly #child: ChildProcess;
  #running = true;

  constructor(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env) {
    if (!hooked) {
      hooked = true;
      addExitCleanup('processes', () => {
        for (const child of alive) child.kill('SIGKILL');
        alive.clear();
      });
    }
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.pid = child.pid;
    alive.add(child);
    this.output.attach(child.stdout as NonNullable<typeof child.stdout>, 'stdout');
    this.output.attach(child.stderr as NonNullable<typeof child.stderr>, 'stderr');
    child.on('exit', () => this.#markGone());
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => resolve({ code, signal }));
      child.on('error', (error) => {
        // 'error' without a pid means the spawn itself failed and no 'close' may follow.
        if (child.pid !== undefined) return;
        this.output.push(`failed to spawn ${command}: ${error.message}`, 'stderr');
        this.#markGone();
        resolve({ code: null, signal: null });
      });
    });
  }

  get running(): boolean {
    return this.#running;
  }

  /** Sends `signal`, escalating to SIGKILL if the process outlives `graceMs`. */
  async terminate(signal: NodeJS.Signals, graceMs: number): Promise<ExitStatus> {
    if (!this.#running) return this.exited;
    this.#child.kill(signal);
    if (signal !== 'SIGKILL') {
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<true>((resolve) => {
        timer = setTimeout(() => resolve(true), graceMs);
      });
      const outcome = await Promise.race([this.exited, gaveUp]);
      clearTimeout(timer);
      if (outcome === true && this.#running) this.#child.kill('SIGKILL');
    }
    return this.exited;
  }

  #markGone(): void {
    this.#running = false;
    alive.delete(this.#child);
  }
}
