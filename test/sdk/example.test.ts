import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { keysOf, startStack, type Stack } from '../support/stack.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/chat-node/chat.mjs', import.meta.url));

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ gateways: 1 });
});
afterAll(async () => {
  await stack?.stop();
});

function run(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [EXAMPLE], { env: { ...process.env, ...env } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += String(chunk)));
    child.stderr.on('data', (chunk: Buffer) => (output += String(chunk)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

it('the chat-node example runs its conversation against a running stack', async () => {
  const { code, output } = await run({ GATEWAY_URL: stack.gatewayUrl(0), EMIT_API_URL: stack.emitUrl, SECRET_KEY: keysOf(stack, 'alpha').secretKey });
  expect(output).toContain('bob joined with 1 participant(s) already there');
  expect(output).toContain('[alice] bob joined (sleepy)');
  expect(output).toContain('[bob] alice: hi bob!');
  expect(output).toContain('[alice] direct from bob: psst, alice');
  expect(output).toContain('[alice] bob is now awake');
  expect(output).toContain('[alice] bob left');
  expect(output.trim().endsWith('done')).toBe(true);
  expect(code).toBe(0);
});

it('the chat-node example says what is missing', async () => {
  const { code, output } = await run({ SECRET_KEY: '' });
  expect(code).toBe(2);
  expect(output).toContain('set SECRET_KEY to the secret key `pnpm start` printed');
});
