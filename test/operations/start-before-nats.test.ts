import { generateApp } from '@signal/core';
import { freePort, startNats, startService, writeTempFile, type NatsServer, type ServiceProcess } from '@signal/harness';
import { afterAll, describe, expect, it } from 'vitest';
import { passes } from '../support/poll.js';
import { EMIT_API_ENTRY, GATEWAY_ENTRY } from '../support/stack.js';

describe('services started before NATS accepts connections', () => {
  let nats: NatsServer;
  const services: ServiceProcess[] = [];
  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop()));
    await nats?.stop();
  });

  it('wait, not ready, saying they wait for NATS, and become ready once it is up, without exiting', { timeout: 90_000 }, async () => {
    nats = await startNats();
    // Down, but its port and store kept: restart() brings the same server back on the same port.
    await nats.kill();
    const appsFile = await writeTempFile('apps-late-nats.json', JSON.stringify({ apps: [generateApp('alpha')] }));
    const pending = await Promise.all(
      (['gateway', 'emit-api'] as const).map(async (name) => {
        const adminPort = await freePort();
        const lines: string[] = [];
        const env = { NATS_URL: nats.url, APPS_FILE: appsFile, PORT: '0', ADMIN_PORT: String(adminPort), LOG_LEVEL: 'info' };
        const service = startService({ entry: name === 'gateway' ? GATEWAY_ENTRY : EMIT_API_ENTRY, name, env, readyTimeoutMs: 60_000, onLine: (l) => lines.push(l) });
        return { adminPort, lines, service };
      }),
    );
    for (const { adminPort, lines } of pending) {
      await passes(() => expect(lines.some((l) => l.includes('waiting for NATS'))).toBe(true), 30_000);
      const res = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
      expect(res.status).toBe(503);
      expect(JSON.stringify(await res.json())).toContain('starting');
    }
    await nats.restart();
    for (const { adminPort, service, lines } of pending) {
      services.push(await service);
      await passes(async () => expect((await fetch(`http://127.0.0.1:${adminPort}/readyz`)).status).toBe(200), 30_000);
      expect(lines.some((l) => l.includes('failed to start'))).toBe(false);
    }
  });
});
