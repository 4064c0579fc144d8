#!/usr/bin/env node
// Bundles the console's pages with esbuild (one ES module per page, the SDK included) and copies
// the HTML and CSS beside them, into dist/ (or the directory given as the first argument): the
// directory emit-api serves with CONSOLE_DIR.
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] === undefined ? join(here, 'dist') : resolve(process.argv[2]);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, 'src/demo.ts'), join(here, 'src/admin.ts')],
  outdir: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: false,
  logLevel: 'warning',
});
for (const name of readdirSync(join(here, 'www'))) copyFileSync(join(here, 'www', name), join(out, name));
