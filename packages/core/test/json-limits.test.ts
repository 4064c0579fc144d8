import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  APPS_FILE_LIMITS,
  SignalError,
  assertJsonValueDepth,
  generateApp,
  jsonTextTooDeep,
  jsonTooDeepError,
  loadAppsFile,
  parseAppsFile,
  pathTooDeep,
} from '../src/mod.js';

const arrays = (depth: number, inner = '1') => '['.repeat(depth) + inner + ']'.repeat(depth);

/** The depth of a parsed value, recursively: the reference the iterative checks must agree with. */
function depthOf(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + Math.max(0, ...children.map(depthOf));
}

describe('JSON depth of text', () => {
  it('accepts exactly the limit and refuses one more', () => {
    expect(jsonTextTooDeep(arrays(32), 32)).toBe(false);
    expect(jsonTextTooDeep(arrays(33), 32)).toBe(true);
    expect(jsonTextTooDeep('{"a":{"b":[{}]}}', 4)).toBe(false);
    expect(jsonTextTooDeep('{"a":{"b":[{}]}}', 3)).toBe(true);
    expect(jsonTextTooDeep('"x"', 1)).toBe(false);
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    expect(jsonTextTooDeep(JSON.stringify({ s: '[[[[{{{{', t: 'a\\"[[[[', u: '\\\\' }), 1)).toBe(false);
    expect(jsonTextTooDeep(JSON.stringify(['"\\', [['"']]]), 2)).toBe(true);
    // Long strings are skipped by another path: escaped quotes and backslash runs past its start.
    const long = 'x'.repeat(30);
    for (const tail of ['\\"[[[[', '\\\\', '\\\\\\"{{', '"]]]]\\']) {
      expect(jsonTextTooDeep(JSON.stringify([long + tail, long + tail + long, [[1]]]), 3), tail).toBe(false);
      expect(jsonTextTooDeep(JSON.stringify([long + tail, [[[1]]]]), 3), tail).toBe(true);
    }
  });

  it('agrees with the recursive depth on generated values', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8, stringUnit: fc.constantFrom('a', '"', '\\', '[', '}', '\ud800', '😀') }), fc.integer({ min: 1, max: 8 }), (value, max) => {
        expect(jsonTextTooDeep(JSON.stringify(value), max)).toBe(depthOf(value) > max);
      }),
      { numRuns: 2000, seed: 9 },
    );
  });

  it('scans a million levels without overflowing the stack', () => {
    expect(jsonTextTooDeep(arrays(1_000_000), 32)).toBe(true);
    expect(jsonTooDeepError('frame', 32).message).toBe('frame is nested deeper than 32 levels of arrays and objects (MAX_JSON_DEPTH); flatten it');
  });
});

describe('JSON depth of parsed values', () => {
  it('finds the path of the first value past the limit', () => {
    expect(pathTooDeep({ a: [[1]] }, 3)).toBeUndefined();
    expect(pathTooDeep({ a: [[[1]]] }, 3)).toEqual(['a', 0, 0]);
    expect(pathTooDeep(JSON.parse(arrays(500_000)), 32)).toHaveLength(32);
  });

  it('names the field to fix: the first levels down to a named member', () => {
    const error = (value: unknown) => {
      try {
        assertJsonValueDepth(value, 4, 'body');
      } catch (caught) {
        return caught as SignalError;
      }
      throw new Error('not refused');
    };
    expect(error({ message: JSON.parse(arrays(10)) })).toMatchObject({ code: 'invalid_json', status: 400, field: 'message' });
    expect(error({ signals: [{ message: JSON.parse(arrays(10)) }] }).field).toBe('signals.0.message');
    expect(error(JSON.parse(arrays(10))).field).toBeUndefined();
    expect(() => assertJsonValueDepth({ message: JSON.parse(arrays(3)) }, 4, 'body')).not.toThrow();
  });

  it('agrees with the recursive depth on generated values', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 1, max: 8 }), (value, max) => {
        expect(pathTooDeep(value, max) !== undefined).toBe(depthOf(value) > max);
      }),
      { numRuns: 2000, seed: 10 },
    );
  });
});

describe('apps file limits', () => {
  const dir = mkdtempSync(join(tmpdir(), 'apps-limits-'));
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('refuses more keys per environment than the limit, naming the field', () => {
    const app = generateApp('many');
    const keys = app.environments.test!.publishableKeys;
    const base = keys[0]!;
    const atLimit = structuredClone(app);
    atLimit.environments.test!.publishableKeys = Array.from({ length: APPS_FILE_LIMITS.keysPerEnvironment }, (_, i) => `${base}${String(i).padStart(3, '0')}`.slice(0, base.length + 3));
    expect(() => parseAppsFile({ apps: [atLimit] })).not.toThrow();
    const over = structuredClone(atLimit);
    over.environments.test!.publishableKeys.push(`${base}xyz`);
    expect(() => parseAppsFile({ apps: [over] })).toThrow(/'apps\.0\.environments\.test\.publishableKeys': must list at most 100 keys/);
  });

  it('refuses more apps than the limit', () => {
    const app = generateApp('one');
    const apps = Array.from({ length: APPS_FILE_LIMITS.apps + 1 }, () => app);
    expect(() => parseAppsFile({ apps })).toThrow(/'apps': must list at most 100000 apps/);
  });

  it('refuses a file nested too deep, and one over the size limit, before parsing it', () => {
    expect(() => loadAppsFile(write('deep.json', `{"apps":${arrays(100_000)}}`))).toThrow(/nested deeper than 32 levels; it is not an apps file/);
    const big = write('big.json', '');
    writeFileSync(big, Buffer.alloc(APPS_FILE_LIMITS.bytes + 1, 0x20));
    expect(() => loadAppsFile(big)).toThrow(new RegExp(`is ${APPS_FILE_LIMITS.bytes + 1} bytes, over the ${APPS_FILE_LIMITS.bytes}-byte limit`));
  });
});
