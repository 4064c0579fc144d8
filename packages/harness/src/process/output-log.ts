import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

export type OutputStream = 'stdout' | 'stderr';
export type LineListener = (line: string, stream: OutputStream) => void;

/** stdout and stderr of one child, as lines in arrival order. */
export class OutputLog {
  readonly #lines: string[] = [];
  readonly #listeners = new Set<LineListener>();

  attach(input: Readable, stream: OutputStream): void {
    createInterface({ input, crlfDelay: Infinity }).on('line', (line) => this.push(line, stream));
  }

  push(line: string, stream: OutputStream): void {
    this.#lines.push(line);
    for (const listener of this.#listeners) listener(line, stream);
  }

  all(): string[] {
    return [...this.#lines];
  }

  tail(count: number): string[] {
    return this.#lines.slice(-count);
  }

  /** Returns the unsubscribe function. */
  onLine(listener: LineListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
