import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from './support.js';

const COMMANDS = [[], ['init'], ['token'], ['emit'], ['presence'], ['occupancy'], ['tail'], ['revoke'], ['disconnect'], ['keys'], ['keys', 'list'], ['keys', 'add'], ['keys', 'rotate'], ['keys', 'remove'], ['nodes']];

describe('signal conventions', () => {
  it.each(COMMANDS.map((c) => [c.join(' ') || '(program)', c] as const))('%s --help exits 0 with examples, without colour', async (_name, command) => {
    const { code, stdout, stderr } = await runCli([...command, '--help']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toMatch(command.length === 0 ? /Exit codes: 0 ok, 1 .*2 usage error/s : /\nExamples:\n(?: {2}\$ .*\n)* {2}\$ signal /);
    expect(stdout).not.toContain('\u001b['); // no ANSI colour escapes
  });

  it('no command, or an unknown one, is a usage error (2) with help', async () => {
    const bare = await runCli([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/Commands:/);
    const unknown = await runCli(['publish']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'publish'[\s\S]*--help/);
  });

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../packages/cli/package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await runCli(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('runs from the repository root as `pnpm exec signal`', async () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const { stdout } = await promisify(execFile)('pnpm', ['exec', 'signal', 'keys', '--help'], { cwd: root });
    expect(stdout).toMatch(/^Usage: signal keys/);
  });
});
