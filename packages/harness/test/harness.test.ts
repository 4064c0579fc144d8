import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HarnessError, startNats, startNatsCluster, startService, stopAll, writeTempFile, type NatsServer } from '../src/mod.js';

const SHARED_NATS_PORT = 4222;

/** The first line a NATS server sends to a fresh TCP client. */
function firstLine(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const end = buffered.indexOf('\r\n');
      if (end === -1) return;
      socket.destroy();
      resolve(buffered.slice(0, end));
    });
    socket.on('error', reject);
  });
}

async function monitor(monitorPort: number, path: string): Promise<Record<string, unknown>> {
  const response = await fetch(`http://127.0.0.1:${monitorPort}${path}`);
  expect(response.ok).toBe(true);
  return (await response.json()) as Record<string, unknown>;
}

// These tests exercise the local-binary path; an inherited NATS_URL would hand them an external server.
const inheritedNatsUrl = process.env['NATS_URL'];
beforeAll(() => {
  delete process.env['NATS_URL'];
});

afterAll(async () => {
  await stopAll();
  if (inheritedNatsUrl !== undefined) process.env['NATS_URL'] = inheritedNatsUrl;
});

describe('startNats', { timeout: 30_000 }, () => {
  it('starts a JetStream server that speaks the NATS protocol, survives kill/restart, and cleans up on stop', async () => {
    const nats = await startNats();
    expect(nats.port).not.toBe(SHARED_NATS_PORT);
    expect(nats.url).toBe(`nats://127.0.0.1:${nats.port}`);
    expect(nats.pid).toBeTypeOf('number');
    expect(await firstLine(nats.port)).toMatch(/^INFO \{/);

    const varz = await monitor(nats.monitorPort, '/varz');
    expect(varz['port']).toBe(nats.port);
    expect((varz['jetstream'] as { config?: { store_dir?: string } }).config?.store_dir).toContain(nats.storeDir);

    const firstPid = nats.pid;
    await nats.kill();
    expect(nats.pid).toBeUndefined();
    await expect(firstLine(nats.port)).rejects.toThrow(/ECONNREFUSED/);
    expect(existsSync(nats.storeDir)).toBe(true);

    await nats.restart();
    expect(nats.pid).toBeTypeOf('number');
    expect(nats.pid).not.toBe(firstPid);
    expect(await firstLine(nats.port)).toMatch(/^INFO \{/);

    await nats.stop();
    expect(nats.pid).toBeUndefined();
    expect(existsSync(nats.storeDir)).toBe(false);
    await expect(nats.restart()).rejects.toMatchObject({ code: 'invalid_state' });
  });

  it('runs without JetStream when asked', async () => {
    const nats = await startNats({ jetstream: false });
    const varz = await monitor(nats.monitorPort, '/varz');
    expect((varz['jetstream'] as { config?: unknown }).config).toBeUndefined();
    await nats.stop();
  });

  it('starts with a config file, resolving its variables from the given environment, even when NATS_URL is set', async () => {
    const config = await writeTempFile('auth.conf', 'authorization { token: $TEST_NATS_TOKEN }\n');
    process.env['NATS_URL'] = 'nats://127.0.0.1:1';
    try {
      const nats = await startNats({ configFile: config, env: { TEST_NATS_TOKEN: 'sFromEnv' } });
      expect(nats.pid).toBeTypeOf('number');
      const info = JSON.parse((await firstLine(nats.port)).slice('INFO '.length)) as { auth_required?: boolean };
      expect(info.auth_required).toBe(true);
      await nats.stop();
    } finally {
      delete process.env['NATS_URL'];
    }
  });
});

describe('startNatsCluster', { timeout: 60_000 }, () => {
  it('forms a full mesh with JetStream on every node, and a killed node rejoins on restart', async () => {
    const cluster = await startNatsCluster(3);
    expect(cluster.servers).toHaveLength(3);
    expect(cluster.url).toBe(cluster.urls.join(','));
    expect(cluster.urls).not.toContain(`nats://127.0.0.1:${SHARED_NATS_PORT}`);
    for (const server of cluster.servers) {
      expect((await monitor(server.monitorPort, '/routez'))['num_routes']).toBe(2);
      expect((await monitor(server.monitorPort, '/healthz'))['status']).toBe('ok');
    }

    const first = cluster.servers[0] as NatsServer;
    await first.kill();
    const survivor = cluster.servers[1] as NatsServer;
    await vi.waitFor(async () => expect((await monitor(survivor.monitorPort, '/routez'))['num_routes']).toBe(1));
    await first.restart();
    expect((await monitor(first.monitorPort, '/routez'))['num_routes']).toBe(2);

    await cluster.stop();
    for (const server of cluster.servers) expect(existsSync(server.storeDir)).toBe(false);
  });
});

describe('startService', { timeout: 30_000 }, () => {
  let readyScript: string;
  let crashingScript: string;

  beforeAll(async () => {
    readyScript = await writeTempFile(
      'ready.mjs',
      [
        // The handler goes in before the ready line, so a prompt SIGTERM never meets the default action.
        `process.on('SIGTERM', () => { console.log('bye'); process.exit(0); });`,
        `console.log('starting ' + process.env.GREETING);`,
        `console.log(JSON.stringify({ level: 30, msg: 'ready', port: 1234 }));`,
        `setInterval(() => {}, 1000);`,
      ].join('\n'),
    );
    crashingScript = await writeTempFile('crash.mjs', `console.error('config invalid: APPS_FILE is missing');\nprocess.exit(3);\n`);
  });

  it('resolves with the ready line fields and stops on SIGTERM', async () => {
    const service = await startService({ entry: readyScript, env: { GREETING: 'hello' }, name: 'ready-script' });
    expect(service.ready).toEqual({ level: 30, msg: 'ready', port: 1234 });
    expect(service.pid).toBeTypeOf('number');
    expect(service.lines()).toContain('starting hello');
    expect(await service.waitForLine((line) => line.startsWith('starting'))).toBe('starting hello');

    expect(await service.stop()).toBe(0);
    expect(await service.exited).toEqual({ code: 0, signal: null });
    expect(service.lines()).toContain('bye');
  });

  it('kill() ends the process with SIGKILL', async () => {
    const service = await startService({ entry: readyScript, env: {} });
    await service.kill();
    expect(await service.exited).toEqual({ code: null, signal: 'SIGKILL' });
  });

  it('rejects with the output when the process exits before ready', async () => {
    const failure = await startService({ entry: crashingScript, env: {}, name: 'crash-script' }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(HarnessError);
    expect(failure).toMatchObject({ code: 'start_failed' });
    expect((failure as Error).message).toContain('crash-script exited (code 3)');
    expect((failure as Error).message).toContain('config invalid: APPS_FILE is missing');
  });

  it('rejects with start_timeout when ready never comes', async () => {
    const silent = await writeTempFile('silent.mjs', `console.log('still booting');\nsetInterval(() => {}, 1000);\n`);
    // Long enough for a loaded machine to start node and print, short enough to keep the test quick.
    const failure = await startService({ entry: silent, env: {}, readyTimeoutMs: 3000 }).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'start_timeout' });
    expect((failure as Error).message).toContain('still booting');
  });
});

describe('stopAll', { timeout: 30_000 }, () => {
  it('stops services and NATS and removes temp dirs', async () => {
    const nats = await startNats();
    const script = await writeTempFile('idle.mjs', `console.log('{"msg":"ready"}');\nsetInterval(() => {}, 1000);\n`);
    const service = await startService({ entry: script, env: { NATS_URL: nats.url } });

    await stopAll();

    expect(await service.exited).toMatchObject({ signal: 'SIGTERM' });
    expect(nats.pid).toBeUndefined();
    expect(existsSync(nats.storeDir)).toBe(false);
    expect(existsSync(script)).toBe(false);
  });
});
