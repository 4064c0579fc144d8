import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startService, type ServiceProcess } from '@signal/harness';
import { EMIT_API_ENTRY, keysOf, serviceEnv, startStack, type Stack } from '../support/stack.js';

/** The console's sources: a directory without index.html, which CONSOLE_DIR must not name. */
export const CONSOLE_SOURCES = fileURLToPath(new URL('../../packages/console/src', import.meta.url));
const BUILD = fileURLToPath(new URL('../../packages/console/build.mjs', import.meta.url));

export interface ConsoleStack {
  stack: Stack;
  /** An emit-api serving the console, with demo tokens for alpha's test environment, whose gateways are the stack's. */
  emitApi: ServiceProcess;
  url: string;
  /** alpha's test secret key, which has the `nodes` permission here; beta's does not. */
  adminKey: string;
  /** Stops every process and removes the built console. */
  stop(): Promise<void>;
}

/**
 * A stack of `gateways` gateways plus an emit-api that serves the console, freshly built into a
 * directory of this test file's own (test files run side by side), and demo tokens
 * (DEMO_TOKENS_KEY, DEMO_GATEWAYS: every gateway, in order).
 */
export async function startConsoleStack(options: { gateways: number; emitEnv?: Record<string, string> }): Promise<ConsoleStack> {
  const consoleDir = mkdtempSync(join(tmpdir(), 'signal-console-'));
  await promisify(execFile)(process.execPath, [BUILD, consoleDir]);
  const stack = await startStack({
    gateways: options.gateways,
    configureApps: (apps) => {
      apps.find((a) => a.id === 'alpha')!.environments.test!.secretKeys[0]!.permissions = ['broadcast', 'nodes'];
    },
  });
  const emitApi = await startService({
    entry: EMIT_API_ENTRY,
    name: 'emit-api-console',
    env: {
      ...serviceEnv(stack),
      CONSOLE_DIR: consoleDir,
      DEMO_TOKENS_KEY: keysOf(stack, 'alpha').publishableKey,
      DEMO_GATEWAYS: stack.gateways.map((_, i) => stack.gatewayUrl(i)).join(','),
      ...options.emitEnv,
    },
  });
  return {
    stack,
    emitApi,
    url: `http://127.0.0.1:${String(emitApi.ready.port)}`,
    adminKey: keysOf(stack, 'alpha').secretKey,
    async stop() {
      await emitApi.stop();
      await stack.stop();
      rmSync(consoleDir, { recursive: true, force: true });
    },
  };
}
