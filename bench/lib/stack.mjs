import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startNats } from '@signal/harness';
import { startServer } from './processes.mjs';

/**
 * Starts the server side of each selected system and says where to publish and subscribe.
 * `serverProcesses` names the processes whose CPU is the system's cost.
 */
export async function startSystems({ systems, root, benchDir, appsFile, secret, profile }) {
  const stoppers = [];
  const pids = {};
  const serverProcesses = {};
  const targets = {};
  if (systems.some((system) => system.startsWith('ours'))) {
    // JetStream on: the services keep presence in it (the fan-out path itself never touches it).
    const nats = await startNats();
    stoppers.push(() => nats.stop());
    if (profile) mkdirSync(profile, { recursive: true });
    // V8's tick profiler (--prof): under --cpu-prof this uWebSockets.js build drops a socket
    // as soon as a handler replies from a promise, so the gateway could not be measured.
    const profileArgs = (name) => (profile ? ['--prof', '--no-logfile-per-isolate', `--logfile=${resolve(profile, `${name}.v8.log`)}`] : []);
    // Every subscriber connects from 127.0.0.1: lift the per-address limit (docs/limits.md). The
    // publisher offers up to 10M msgs/s (with --batch 1, one request each) from one secret key:
    // the per-key rate limit still runs, at its maximum, so its cost is measured but it never refuses.
    const env = {
      HOST: '127.0.0.1',
      PORT: '0',
      ADMIN_PORT: '0',
      NATS_URL: nats.url,
      APPS_FILE: appsFile,
      LOG_LEVEL: 'info',
      MAX_CONNECTIONS_PER_IP: '1000000',
      RATE_LIMIT_PER_KEY: '1000000',
      RATE_LIMIT_BURST: '10000000',
    };
    const emitApi = await startServer('emit-api', join(root, 'services/emit-api/dist/main.js'), { env, nodeArgs: profileArgs('emit-api') });
    const gateway = await startServer('gateway', join(root, 'services/gateway/dist/main.js'), { env, nodeArgs: profileArgs('gateway') });
    stoppers.push(emitApi.stop, gateway.stop);
    Object.assign(pids, { nats: nats.pid, 'emit-api': emitApi.pid, gateway: gateway.pid });
    // Native, Socket.IO, restricted-environment and history-channel subscribers use the same three processes, one system at a time.
    for (const system of ['ours', 'ours-sio', 'ours-restricted', 'ours-history']) {
      serverProcesses[system] = ['nats', 'emit-api', 'gateway'];
      targets[system] = { publish: `http://127.0.0.1:${emitApi.port}`, subscribe: `ws://127.0.0.1:${gateway.port}` };
    }
  }
  for (const [system, file] of [['socketio', 'socketio-server.mjs'], ['uws', 'uws-server.mjs']]) {
    if (!systems.includes(system)) continue;
    const name = `${system}-server`;
    const server = await startServer(name, join(benchDir, 'servers', file), { env: { BENCH_SECRET: secret } });
    stoppers.push(server.stop);
    pids[name] = server.pid;
    serverProcesses[system] = [name];
    targets[system] = { publish: `http://127.0.0.1:${server.port}`, subscribe: `${system === 'uws' ? 'ws' : 'http'}://127.0.0.1:${server.port}` };
  }
  return { pids, serverProcesses, targets, stop: () => Promise.all(stoppers.map((stop) => stop())) };
}
