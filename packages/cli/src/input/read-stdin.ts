import { usageError } from '../exit-codes.js';

/** Bigger than emit-api's largest body: past it, reading stops and the input is refused here. */
const MAX_STDIN_BYTES = 4 * 1024 * 1024;

/** What was piped to stdin, or undefined when stdin is a terminal (nothing was piped). */
export async function readStdin(): Promise<string | undefined> {
  if (process.stdin.isTTY) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > MAX_STDIN_BYTES) throw usageError(`stdin is over ${MAX_STDIN_BYTES} bytes; emit-api would refuse it`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text.trim() === '' ? undefined : text;
}
