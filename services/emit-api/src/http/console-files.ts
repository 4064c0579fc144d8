import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { ConfigError, SignalError } from '@signal/core';

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};
/** Only flat, plainly named files of these types are served: no path ever reaches the file system at request time. */
const NAME = /^[a-z0-9][a-z0-9._-]{0,63}\.(html|js|css|svg)$/;
const MAX_FILES = 64;
const MAX_FILE_BYTES = 4 * 1024 * 1024;

/**
 * The pages must not be framed, must run only their own scripts, and may open WebSockets to
 * gateways on other origins (the demo) but send nothing elsewhere.
 */
const HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

interface File {
  type: string;
  body: Buffer;
}

/**
 * The web console's built files (CONSOLE_DIR), read once at start into memory and served at
 * `/console/<file>`; `/console` redirects to `/console/`, which is `index.html`.
 */
export function loadConsoleFiles(dir: string): Map<string, File> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => NAME.test(name) && statSync(join(dir, name)).isFile());
  } catch (error) {
    throw new ConfigError(`CONSOLE_DIR ${dir}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); build the console with pnpm build, or unset CONSOLE_DIR`);
  }
  if (!names.includes('index.html')) throw new ConfigError(`CONSOLE_DIR ${dir} has no index.html; build the console with pnpm build, or unset CONSOLE_DIR`);
  if (names.length > MAX_FILES) throw new ConfigError(`CONSOLE_DIR ${dir} has ${names.length} files, over ${MAX_FILES}; point it at the console's dist directory`);
  const files = new Map<string, File>();
  for (const name of names) {
    const body = readFileSync(join(dir, name));
    if (body.length > MAX_FILE_BYTES) throw new ConfigError(`CONSOLE_DIR ${dir}: ${name} is over ${MAX_FILE_BYTES} bytes; point it at the console's dist directory`);
    files.set(name, { type: TYPES[name.slice(name.lastIndexOf('.') + 1)]!, body });
  }
  return files;
}

export function consoleRoute(files: Map<string, File>) {
  return (req: IncomingMessage, res: ServerResponse, params: Record<string, string>): void => {
    if (params.file === undefined && !(req.url ?? '').split('?')[0]!.endsWith('/')) {
      res.writeHead(308, { location: '/console/', ...HEADERS }).end();
      return;
    }
    const name = params.file ?? 'index.html';
    const file = files.get(name);
    if (file === undefined) throw new SignalError('not_found', `no such console page: /console/${name.slice(0, 64)}`);
    res.writeHead(200, { 'content-type': file.type, 'content-length': file.body.length, ...HEADERS }).end(file.body);
  };
}
