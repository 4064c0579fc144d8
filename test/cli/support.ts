import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built CLI, run as a user runs it: `node packages/cli/dist/main.js …`. */
export const CLI_ENTRY = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The caller's environment without any SIGNAL_* or APPS_FILE variable (a developer's shell must
 * not change what a test sees), plus `env`.
 */
function cliEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SIGNAL_') && name !== 'APPS_FILE' && !name.startsWith('NATS_')));
  return { ...base, ...env };
}

/** Runs one command to its end; `input` is written to its stdin (closed either way). */
export function runCli(args: string[], options: { env?: Record<string, string>; input?: string; cwd?: string } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI_ENTRY, ...args], { env: cliEnv(options.env ?? {}), cwd: options.cwd });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(options.input ?? '');
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A long-running command (`tail`) whose output lines can be awaited as they come. */
export class RunningCli {
  readonly child: ChildProcessWithoutNullStreams;
  readonly stdoutLines: string[] = [];
  readonly stderrLines: string[] = [];
  readonly exited: Promise<number | null>;
  private waiters: Array<() => void> = [];

  constructor(args: string[], env: Record<string, string>) {
    this.child = spawn(process.execPath, [CLI_ENTRY, ...args], { env: cliEnv(env) });
    this.collect(this.child.stdout, this.stdoutLines);
    this.collect(this.child.stderr, this.stderrLines);
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }

  /** Resolves with the first line (stdout or stderr, as asked) that matches, waiting for it. */
  async line(stream: 'stdout' | 'stderr', matches: (line: string) => boolean, timeoutMs = 15_000): Promise<string> {
    const lines = stream === 'stdout' ? this.stdoutLines : this.stderrLines;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = lines.find(matches);
      if (found !== undefined) return found;
      if (Date.now() > deadline) {
        throw new Error(`no matching ${stream} line within ${timeoutMs} ms; stdout: ${this.stdoutLines.join(' | ')}; stderr: ${this.stderrLines.join(' | ')}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private collect(stream: NodeJS.ReadableStream, lines: string[]): void {
    let partial = '';
    stream.on('data', (d: Buffer) => {
      const parts = (partial + d.toString()).split('\n');
      partial = parts.pop()!;
      lines.push(...parts);
      for (const wake of this.waiters.splice(0)) wake();
    });
  }
}
