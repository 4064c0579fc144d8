import { usageError } from '../exit-codes.js';

/** Parses a JSON option value or stdin text, naming where it came from when it is malformed. */
export function parseJsonInput(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw usageError(`${source} is not valid JSON: ${(error as Error).message}`);
  }
}
