import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { EMIT_API_ENTRY, GATEWAY_ENTRY } from '../support/stack.js';

/** Runs a service with exactly `env` (plus PATH) and resolves once it exits. */
function run(entry: string, env: Record<string, string>): Promise<{ code: number | null; stderr: string; stdout: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += String(chunk)));
    child.stdout.on('data', (chunk: Buffer) => (stdout += String(chunk)));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr, stdout, ms: Date.now() - started }));
  });
}

// Nothing listens on this port: a service that got past its config would hang reconnecting, not exit.
const base = { APPS_FILE: '/nonexistent/apps.json', NATS_URL: 'nats://127.0.0.1:1' };

describe('a bad configuration stops the process at once, naming the variable and what is allowed', () => {
  const entries = { gateway: GATEWAY_ENTRY, 'emit-api': EMIT_API_ENTRY };
  it.each([
    ['gateway', { ADMIN_PORT: '70000' }, 'ADMIN_PORT="70000": must be at most 65535'],
    ['gateway', { SHUTDOWN_TIMEOUT_MS: 'soon' }, 'SHUTDOWN_TIMEOUT_MS="soon": must be an integer from 100 to 3600000'],
    ['gateway', { SHUTDOWN_DELAY_MS: '-1' }, 'SHUTDOWN_DELAY_MS="-1": must be at least 0'],
    ['gateway', { MAX_BACKPRESSURE_BYTES: '1000' }, 'MAX_BACKPRESSURE_BYTES="1000": must be at least 65536'],
    ['gateway', { NODE_ID: 'Node_1' }, 'NODE_ID="Node_1": must be 4-32 of a-z and 0-9'],
    ['emit-api', { LOG_LEVEL: 'loud' }, 'LOG_LEVEL="loud": must be one of fatal, error, warn, info, debug, trace, silent'],
    ['emit-api', { ADMIN_PORT: '9o91' }, 'ADMIN_PORT="9o91": must be an integer from 0 to 65535'],
    ['emit-api', { APPS_FILE: '' }, 'APPS_FILE=""'],
    ['gateway', { NATS_USER: 'signal-gateway', NATS_PASSWORD: 'pw', NATS_TOKEN: 'tk' }, 'NATS_TOKEN=(hidden): NATS_USER and NATS_TOKEN are both set: choose one way to authenticate to NATS'],
    ['emit-api', { NATS_TOKEN: 'tk', NATS_CREDS_FILE: '/x.creds' }, 'NATS_CREDS_FILE="/x.creds": NATS_TOKEN and NATS_CREDS_FILE are both set'],
    ['emit-api', { NATS_USER: 'signal-emit-api' }, 'NATS_PASSWORD=unset: NATS_USER and NATS_PASSWORD go together: set both or neither'],
    ['gateway', { NATS_TLS_CERT_FILE: '/client.pem' }, 'NATS_TLS_KEY_FILE=unset: NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE go together'],
    ['gateway', { NATS_URL: 'tls://nats-1:4222,nats://nats-2:4222' }, 'mixes tls:// with other schemes: use tls:// for every server or for none'],
  ] as const)('%s with %j', async (service, env, expected) => {
    const result = await run(entries[service], { ...base, ...env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${service} failed to start: invalid environment: `);
    expect(result.stderr).toContain(expected);
    expect(result.stdout).not.toContain('"msg":"ready"');
  });

  it('names a missing apps file, and every bad variable at once', async () => {
    const missing = await run(GATEWAY_ENTRY, { NATS_URL: base.NATS_URL });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('APPS_FILE=unset: is required: the path of the apps JSON file');
    const several = await run(EMIT_API_ENTRY, { ...base, PORT: 'x', MAX_BATCH: '0' });
    expect(several.code).toBe(1);
    expect(several.stderr).toContain('PORT="x"');
    expect(several.stderr).toContain('MAX_BATCH="0": must be at least 1');
  });

  it('never echoes a NATS password or token it refuses', async () => {
    const result = await run(GATEWAY_ENTRY, { ...base, NATS_USER: 'u', NATS_PASSWORD: 'hunter2hunter2', NATS_TOKEN: 'swordfish42' });
    expect(result.code).toBe(1);
    expect(result.stderr).not.toContain('hunter2hunter2');
    expect(result.stderr).not.toContain('swordfish42');
  });

  it('never echoes a password given in NATS_URL', async () => {
    const result = await run(GATEWAY_ENTRY, { ...base, NATS_URL: 'nats://signal:hunter2hunter2@nats 1:4222' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('NATS_URL=');
    expect(result.stderr).toContain('must be a comma-separated list of nats:// (or tls://) URLs');
    expect(result.stderr).not.toContain('hunter2hunter2');
  });
});
