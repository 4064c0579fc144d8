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
      // Brackets inside a string are content.
      i = endOfString(text, i + 1);
      if (i === -1) return false;
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > maxDepth) return true;
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
      depth--;
    }
  }
  return false;
}

/** Short strings are read character by character; beyond that, indexOf finds quotes far faster. */
const SHORT_STRING = 24;

/** The index of the quote closing a string whose content starts at `from`, or -1 if it never closes. */
function endOfString(text: string, from: number): number {
  const stop = Math.min(text.length, from + SHORT_STRING);
  let i = from;
  for (; i < stop; i++) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i;
  }
  for (;;) {
    const end = text.indexOf('"', i);
    if (end === -1) return -1;
    // A quote preceded by an odd run of backslashes is escaped.
    let slashes = 0;
    while (end - 1 - slashes >= from && text.charCodeAt(end - 1 - slashes) === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return end;
    i = end + 1;
  }
}

interface Container {
  readonly value: object;
  readonly depth: number;
  readonly parent: Container | undefined;
  readonly key: string | number;
}

/**
 * The path to the first array or object nested deeper than `maxDepth` in a parsed value, or
 * undefined when it fits. An explicit stack, so any depth `JSON.parse` produced is walked
 * safely; scalars are never pushed and paths are only built for the answer.
 */
export function pathTooDeep(value: unknown, maxDepth: number): (string | number)[] | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const stack: Container[] = [{ value, depth: 1, parent: undefined, key: '' }];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    if (top.depth > maxDepth) return pathOf(top);
    const depth = top.depth + 1;
    if (Array.isArray(top.value)) {
      const items = top.value as unknown[];
      for (let i = 0; i < items.length; i++) {
        const child = items[i];
        if (typeof child === 'object' && child !== null) stack.push({ value: child, depth, parent: top, key: i });
      }
    } else {
      const members = top.value as Record<string, unknown>;
      for (const key of Object.keys(members)) {
        const child = members[key];
        if (typeof child === 'object' && child !== null) stack.push({ value: child, depth, parent: top, key });
      }
    }
  }
  return undefined;
}

function pathOf(container: Container): (string | number)[] {
  const path: (string | number)[] = [];
  for (let at: Container | undefined = container; at?.parent !== undefined; at = at.parent) path.push(at.key);
  return path.reverse();
}

/** The error every surface answers for input nested too deep; `what` names the input. */
export function jsonTooDeepError(what: string, maxDepth: number, field?: string): SignalError {
  return new SignalError(
    'invalid_json',
    `${what} is nested deeper than ${maxDepth} levels of arrays and objects (MAX_JSON_DEPTH); flatten it`,
    field === undefined ? {} : { field },
  );
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
