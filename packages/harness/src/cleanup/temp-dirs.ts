import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { HarnessError } from '../errors/harness-error.js';
import { addExitCleanup } from './exit-hook.js';

const dirs = new Set<string>();
let filesDir: Promise<string> | undefined;

export async function makeTempDir(label: string): Promise<string> {
  addExitCleanupOnce();
  const dir = await mkdtemp(join(tmpdir(), `signal-harness-${label}-`));
  dirs.add(dir);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  dirs.delete(dir);
  await rm(dir, { recursive: true, force: true });
}

export async function removeAllTempDirs(): Promise<void> {
  filesDir = undefined;
  await Promise.all([...dirs].map(removeTempDir));
}

/** Writes `contents` to `name` inside a harness-owned directory that stopAll() removes. */
export async function writeTempFile(name: string, contents: string): Promise<string> {
  filesDir ??= makeTempDir('files');
  const dir = await filesDir;
  const path = join(dir, name);
  const inside = relative(dir, path);
  if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) {
    throw new HarnessError('invalid_argument', `writeTempFile name "${name}" must be a relative file path that stays inside the harness temp dir`);
  }
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, contents);
  return path;
}

let hooked = false;
function addExitCleanupOnce(): void {
  if (hooked) return;
  hooked = true;
  addExitCleanup('files', () => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    dirs.clear();
  });
}
