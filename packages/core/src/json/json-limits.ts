import { intVar } from '../config/env.js';
import { SignalError } from '../errors/signal-error.js';

/**
 * Structural limits of JSON input. `JSON.parse` accepts any depth, but everything after it
 * that walks the value recursively (`JSON.stringify`, zod, our renderers) overflows the stack
 * a few thousand levels down, so a deep message would throw wherever it is next touched. The
 * checks here never recurse: a hostile depth costs one pass and a refusal, not a stack.
 */

/** Default of MAX_JSON_DEPTH: real Stelace, Bit6 and WebRTC payloads stay under 10 levels. */
export const DEFAULT_MAX_JSON_DEPTH = 32;

/**
 * MAX_JSON_DEPTH, read by both services: the deepest nesting any JSON input may have. At least
 * 4 (a native frame with a presence state needs 3); at most 256, far below where stringifying
 * a value overflows the stack.
 */
export const maxJsonDepthVar = intVar(4, 256, DEFAULT_MAX_JSON_DEPTH);

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * Whether JSON text nests arrays and objects deeper than `maxDepth` (a scalar is depth 0,
 * `[]` and `{}` are 1). One scan of the characters, skipping strings; it does not validate
 * the text (JSON.parse does that), so unbalanced text only ever counts too deep, never less.
 */
export function jsonTextTooDeep(text: string, maxDepth: number): boolean {
  let depth = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // Skip the string: brackets inside it are content.
      for (i++; i < length; i++) {
        const s = text.charCodeAt(i);
        if (s === BACKSLASH) i++;
        else if (s === QUOTE) break;
      }
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > maxDepth) return true;
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
      depth--;
    }
  }
  return false;
}

/**
 * The path to the first array or object nested deeper than `maxDepth` in a parsed value, or
 * undefined when it fits. An explicit stack, so any depth `JSON.parse` produced is walked safely.
 */
export function pathTooDeep(value: unknown, maxDepth: number): (string | number)[] | undefined {
  const stack: { value: unknown; depth: number; path: (string | number)[] }[] = [{ value, depth: 0, path: [] }];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    if (typeof top.value !== 'object' || top.value === null) continue;
    const depth = top.depth + 1;
    if (depth > maxDepth) return top.path;
    const entries: [string | number, unknown][] = Array.isArray(top.value) ? top.value.map((v, i) => [i, v]) : Object.entries(top.value);
    for (const [key, child] of entries) {
      if (typeof child === 'object' && child !== null) stack.push({ value: child, depth, path: [...top.path, key] });
    }
  }
  return undefined;
}

/** The error every surface answers for input nested too deep; `what` names the input. */
export function jsonTooDeepError(what: string, maxDepth: number, field?: string): SignalError {
  return new SignalError(
    'invalid_json',
    `${what} is nested deeper than ${maxDepth} levels of arrays and objects (MAX_JSON_DEPTH); flatten it`,
    field === undefined ? {} : { field },
  );
}

/** Throws `invalid_json` naming the limit when JSON text nests deeper than `maxDepth`. */
export function assertJsonTextDepth(text: string, maxDepth: number, what: string): void {
  if (jsonTextTooDeep(text, maxDepth)) throw jsonTooDeepError(what, maxDepth);
}

/**
 * Throws `invalid_json` when a parsed value nests deeper than `maxDepth`; `field` names the
 * input to fix: the first levels of the path, down to a named member (`signals.0.message`, not
 * `message.0.0`).
 */
export function assertJsonValueDepth(value: unknown, maxDepth: number, what: string): void {
  const path = pathTooDeep(value, maxDepth);
  if (path === undefined) return;
  const head = path.slice(0, 3);
  const lastName = head.findLastIndex((part) => typeof part === 'string');
  const field = lastName === -1 ? undefined : head.slice(0, lastName + 1).join('.');
  throw jsonTooDeepError(what, maxDepth, field);
}
