import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateApp } from '@signal/core';
import { startNats, startService, writeTempFile, type NatsServer } from '@signal/harness';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { emitEnvSchema } from '../../services/emit-api/src/config/emit-config.js';
import { webhooksEnvSchema } from '../../services/webhooks/src/config/webhooks-config.js';
import { gatewayEnvSchema } from '../../services/gateway/src/config/gateway-config.js';
import { natsConfLogins } from '../support/nats-conf.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const SERVICES = { gateway: gatewayEnvSchema, 'emit-api': emitEnvSchema, webhooks: webhooksEnvSchema } as const satisfies Record<string, z.ZodObject>;

/* eslint-disable @typescript-eslint/no-explicit-any -- parsed YAML is checked field by field below */
const compose: any = parse(readFileSync(`${root}docker-compose.yml`, 'utf8'), { merge: true });
const haproxyConfig = readFileSync(`${root}deploy/compose/haproxy.cfg`, 'utf8');

function flag(command: string[], name: string): string | undefined {
  const at = command.indexOf(name);
  return at === -1 ? undefined : command[at + 1];
}

describe('docker-compose.yml', () => {
  const natsNodes = ['nats-1', 'nats-2', 'nats-3'];

  it('runs a 3-node NATS cluster with JetStream, each routed to the other two and health-checked', () => {
    const names = new Set<string>();
    for (const node of natsNodes) {
      const service = compose.services[node];
      const command: string[] = service.command;
      expect(service.image).toMatch(/^nats:2\./);
      expect(command).toContain('--jetstream');
      expect(flag(command, '--store_dir')).toBeDefined();
      expect(service.volumes.some((v: string) => v.endsWith(`:${flag(command, '--store_dir')}`))).toBe(true);
      expect(flag(command, '--cluster_name')).toBe('signal');
      names.add(flag(command, '--name')!);
      // Routes log in: the same user and password (from .env) on the listener and on every route.
      const url = (u: string) => new URL(u.replace('${SIGNAL_NATS_ROUTE_PASSWORD}', 'sRoutePassword'));
      const routeUrls = flag(command, '--routes')!.split(',').map(url);
      expect(routeUrls.map((r) => r.hostname).sort()).toEqual(natsNodes.filter((n) => n !== node));
      for (const r of [url(flag(command, '--cluster')!), ...routeUrls]) expect([r.username, r.password]).toEqual(['route', 'sRoutePassword']);
      expect(service.environment.NATS_ROUTE_PASSWORD).toMatch(/^\$\{SIGNAL_NATS_ROUTE_PASSWORD:\?[^}]+\}$/);
      expect(service.healthcheck.test.join(' ')).toContain(`:${flag(command, '--http_port')}/healthz`);
    }
    expect(names.size).toBe(3);
  });

  it('runs NATS with the authorization of deploy/compose/nats.conf, passwords from .env, and publishes no NATS port', () => {
    const logins = natsConfLogins();
    for (const node of natsNodes) {
      const service = compose.services[node];
      const config = flag(service.command, '--config');
      expect(service.volumes).toContain(`./deploy/compose/nats.conf:${config}:ro`);
      expect(service.ports).toBeUndefined();
      for (const login of logins) expect(service.environment[login.passwordVariable], login.passwordVariable).toMatch(/^\$\{SIGNAL_NATS_\w+_PASSWORD:\?[^}]+\}$/);
    }
    // Each service logs in as its own user with the very variable NATS checks that user's password against.
    const users = { 'gateway-1': 'signal-gateway', 'gateway-2': 'signal-gateway', 'emit-api': 'signal-emit-api', 'webhooks-1': 'signal-webhooks', 'webhooks-2': 'signal-webhooks' } as const;
    for (const [name, user] of Object.entries(users)) {
      const env = compose.services[name].environment;
      const login = logins.find((l) => l.user === user)!;
      expect(env.NATS_USER).toBe(user);
      expect(env.NATS_PASSWORD).toBe(compose.services['nats-1'].environment[login.passwordVariable]);
    }
    expect(readFileSync(`${root}.gitignore`, 'utf8').split('\n')).toContain('.env');
  });

  it.each([
    ['gateway-1', 'gateway'],
    ['gateway-2', 'gateway'],
    ['emit-api', 'emit-api'],
    ['webhooks-1', 'webhooks'],
    ['webhooks-2', 'webhooks'],
  ] as const)('%s: configuration parses with the service’s schema; healthy means ready; waits for NATS; stops gracefully', (name, kind) => {
    const service = compose.services[name];
    expect(existsSync(`${root}${service.build.dockerfile}`)).toBe(true);
    expect(service.build.dockerfile).toBe(`services/${kind}/Dockerfile`);
    const env = service.environment as Record<string, string>;
    const schema = SERVICES[kind];
    expect(Object.keys(env).filter((k) => !(k in schema.shape))).toEqual([]);
    const parsed = schema.safeParse(env);
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    const config = parsed.data!;

    expect(config.APPS_FILE).toBe(`/run/secrets/${service.secrets[0].target}`);
    expect(compose.secrets[service.secrets[0].source].file).toBeDefined();
    expect(config.NATS_URL.split(',').map((u) => new URL(u).hostname).sort()).toEqual(natsNodes);
    for (const node of natsNodes) expect(service.depends_on[node]).toEqual({ condition: 'service_healthy' });
    expect(service.healthcheck.test.join(' ')).toContain(`127.0.0.1:${config.ADMIN_PORT}/readyz`);
    const grace = Number(/^(\d+)s$/.exec(service.stop_grace_period)![1]);
    expect(grace * 1000).toBeGreaterThan(config.SHUTDOWN_DELAY_MS + config.SHUTDOWN_TIMEOUT_MS);
    expect(service.read_only).toBe(true);
  });

  it('puts both gateways behind HAProxy, checked on their readiness, and publishes the public ports', () => {
    const gateways = ['gateway-1', 'gateway-2'];
    expect(new Set(gateways.map((g) => compose.services[g].environment.NODE_ID)).size).toBe(2);
    const lb = compose.services.lb;
    expect(lb.image).toMatch(/^haproxy:/);
    expect(lb.volumes[0]).toBe('./deploy/compose/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro');
    for (const g of gateways) expect(lb.depends_on[g]).toEqual({ condition: 'service_healthy' });
    expect(lb.ports).toContain('8080:8080');
    expect(compose.services['emit-api'].ports).toContain('8081:8081');

    const servers = [...haproxyConfig.matchAll(/^\s*server (\S+) (\S+):(\d+)/gm)].map((m) => ({ name: m[1], host: m[2], port: Number(m[3]) }));
    expect(servers.map((s) => s.host)).toEqual(gateways);
    for (const server of servers) expect(server.port).toBe(Number(compose.services[server.host!].environment.PORT));
    const adminPort = /default-server check port (\d+)/.exec(haproxyConfig)![1];
    for (const g of gateways) expect(compose.services[g].environment.ADMIN_PORT).toBe(adminPort);
    const maxconn = Number(/^\s*maxconn (\d+)/m.exec(haproxyConfig)![1]);
    expect(lb.ulimits.nofile.hard).toBeGreaterThan(2 * maxconn);
    expect(lb.ulimits.nofile.soft).toBeGreaterThan(2 * maxconn);
    expect(haproxyConfig).toMatch(/option httpchk GET \/readyz/);
    expect(haproxyConfig).toMatch(/timeout tunnel \d+h/);
  });

  it('HAProxy accepts the load balancer configuration', () => {
    const result = spawnSync('haproxy', ['-c', '-f', `${root}deploy/compose/haproxy.cfg`], { encoding: 'utf8' });
    if (result.error) throw new Error(`checking the HAProxy configuration needs haproxy (apt-get install haproxy): ${result.error.message}`);
    const output = result.stdout + result.stderr;
    expect(result.status, output).toBe(0);
    expect(output).toContain('Configuration file is valid');
    // Gateway names resolve only inside Compose's network; anything else is a real problem.
    const warnings = output.split('\n').filter((l) => l.includes('[WARNING]'));
    expect(warnings.filter((w) => !/could not resolve address 'gateway-\d'/.test(w))).toEqual([]);
  });
});

describe('service images', () => {
  let nats: NatsServer;
  const built: string[] = [];
  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    await nats?.stop();
    for (const dir of built) rmSync(dir, { recursive: true, force: true });
  });

  it.each(['gateway', 'emit-api', 'webhooks'] as const)('%s: the Dockerfile builds with the assemble script and runs it unprivileged; what it assembles starts and becomes ready', async (name) => {
    const dockerfile = readFileSync(`${root}services/${name}/Dockerfile`, 'utf8');
    const stages = dockerfile.match(/^FROM /gm) ?? [];
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const final = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    expect(final).toMatch(/^USER [1-9]\d*:[1-9]\d*$/m);
    expect(final).toMatch(/^CMD \["node", "dist\/main\.js"\]$/m);
    expect(dockerfile).toContain(`sh deploy/docker/assemble.sh ${name} /out`);
    const env = Object.fromEntries([...final.matchAll(/^\s+(\w+)=(\S+?)(?: \\)?$/gm)].map((m) => [m[1]!, m[2]!]));
    const exposed = /^EXPOSE (.+)$/m.exec(final)![1]!.split(' ').map(Number);
    // The webhooks dispatcher has only its admin port.
    expect(exposed.sort()).toEqual([env.PORT, env.ADMIN_PORT].filter((port) => port !== undefined).map(Number).sort());

    // The build stage's last step, run here: the output must hold everything the service needs.
    const out = mkdtempSync(join(tmpdir(), `signal-image-${name}-`));
    built.push(out);
    rmSync(out, { recursive: true });
    execFileSync('sh', ['deploy/docker/assemble.sh', name, out], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    expect(existsSync(join(out, 'node_modules/@signal/harness'))).toBe(false);
    const appsFile = await writeTempFile('apps.json', JSON.stringify({ apps: [generateApp('alpha')] }));
    const service = await startService({
      entry: join(out, 'dist/main.js'),
      name: `${name} image`,
      env: { ...env, PORT: '0', ADMIN_PORT: '0', NATS_URL: nats.url, APPS_FILE: appsFile },
    });
    expect((await fetch(`http://127.0.0.1:${String(service.ready.adminPort)}/readyz`)).status).toBe(200);
    expect(await service.stop()).toBe(0);
  });
});
