#!/usr/bin/env node
// Runs the whole system locally: NATS (unless NATS_URL is given), one gateway, the emit-api and
// the webhooks dispatcher.
// Creates a demo app on first run and prints how to connect and emit. Ctrl-C stops everything.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateApp, loadAppsFile, mintUserToken, AppRegistry } from '@signal/core';
import { startNats, startService, stopAll } from '@signal/harness';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const gatewayPort = process.env.GATEWAY_PORT ?? '8080';
const emitPort = process.env.EMIT_API_PORT ?? '8081';
const gatewayAdminPort = process.env.GATEWAY_ADMIN_PORT ?? '9090';
const emitAdminPort = process.env.EMIT_API_ADMIN_PORT ?? '9091';
const webhooksAdminPort = process.env.WEBHOOKS_ADMIN_PORT ?? '9093';

function appsFilePath() {
  if (process.env.APPS_FILE) return process.env.APPS_FILE;
  const path = resolve(root, '.signal/apps.json');
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    const app = generateApp('demo', { broadcast: true });
    // The console's admin page lists gateway nodes, which takes the 'nodes' permission.
    for (const env of Object.values(app.environments)) env.secretKeys[0].permissions = ['broadcast', 'nodes'];
    writeFileSync(path, JSON.stringify({ apps: [app] }, null, 2) + '\n', { mode: 0o600 });
    console.log(`created a demo app in ${path}`);
  }
  return path;
}

async function main() {
  const appsFile = appsFilePath();
  const apps = loadAppsFile(appsFile);
  let natsUrl = process.env.NATS_URL;
  if (!natsUrl) {
    const nats = await startNats();
    natsUrl = nats.url;
    console.log(`started nats-server with JetStream at ${natsUrl}`);
  }
  const common = { NATS_URL: natsUrl, APPS_FILE: appsFile, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' };
  const echo = (name) => (line) => process.stdout.write(`[${name}] ${line}\n`);
  await startService({ entry: resolve(root, 'services/gateway/dist/main.js'), name: 'gateway', env: { ...common, PORT: gatewayPort, ADMIN_PORT: gatewayAdminPort }, onLine: echo('gateway') });
  // Minted tokens name the gateway in `aud`, which is where Bit6 SDK apps connect.
  const gatewayPublicUrl = process.env.GATEWAY_PUBLIC_URL ?? `http://127.0.0.1:${gatewayPort}`;
  const app = apps.apps[0];
  const test = app.environments.test ?? app.environments.live;
  await startService({
    entry: resolve(root, 'services/emit-api/dist/main.js'),
    name: 'emit-api',
    env: {
      ...common,
      PORT: emitPort,
      ADMIN_PORT: emitAdminPort,
      GATEWAY_PUBLIC_URL: gatewayPublicUrl,
      // The web console, and its live demo's token endpoint: a development stack only (docs/console.md).
      CONSOLE_DIR: resolve(root, 'packages/console/dist'),
      DEMO_TOKENS_KEY: test.publishableKeys[0],
    },
    onLine: echo('emit-api'),
  });
  // Sends the apps file's `webhooks` endpoints their events (docs/webhooks.md); memory storage,
  // like the rest of this local NATS.
  await startService({
    entry: resolve(root, 'services/webhooks/dist/main.js'),
    name: 'webhooks',
    env: { ...common, ADMIN_PORT: webhooksAdminPort, WEBHOOK_STORAGE: process.env.WEBHOOK_STORAGE ?? 'memory' },
    onLine: echo('webhooks'),
  });

  const scope = new AppRegistry(apps).byPublishableKey(test.publishableKeys[0]);
  const { token } = await mintUserToken(scope, { identity: 'alice', device: 'web', ttlSeconds: 24 * 3600, audience: gatewayPublicUrl });
  const secret = test.secretKeys[0].key ?? '<your secret key>';
  console.log(`
signal is running (app '${app.id}', ${scope.env} environment; keys in ${appsFile})
  gateway   ws://127.0.0.1:${gatewayPort}/v1/connect
  emit-api  http://127.0.0.1:${emitPort}
  console   http://127.0.0.1:${emitPort}/console/   (live demo: open /console/demo.html in two tabs; admin: enter the secret key)
  webhooks  dispatcher (admin http://127.0.0.1:${webhooksAdminPort}); endpoints: "webhooks" in ${appsFile}

  publishable key  ${test.publishableKeys[0]}
  secret key       ${secret}
  user token for alice/web (24 h):
    ${token}

Connect and join a channel (any WebSocket client, e.g. npx wscat):
  npx wscat -c 'ws://127.0.0.1:${gatewayPort}/v1/connect?token=${token}'
  > {"jsonrpc":"2.0","id":1,"method":"signal.join","params":{"id":"room-1"}}

Emit to it from a backend:
  curl -u ${secret}: -H 'content-type: application/json' \\
    -d '{"to":{"channel":"room-1"},"event":"chat","message":{"text":"hello"}}' http://127.0.0.1:${emitPort}/v1/signals

Mint more user tokens:
  curl -u ${secret}: -H 'content-type: application/json' -d '{"identity":"bob","device":"phone"}' http://127.0.0.1:${emitPort}/v1/tokens

Or with the signal command line (pnpm exec signal --help):
  export SIGNAL_SECRET_KEY=${secret} SIGNAL_EMIT_URL=http://127.0.0.1:${emitPort} SIGNAL_GATEWAY_URL=ws://127.0.0.1:${gatewayPort}
  pnpm exec signal tail --channel room-1 --presence
  pnpm exec signal emit --channel room-1 --event chat --message '{"text":"hello"}'

Ctrl-C stops everything.
`);
  const stop = async () => {
    await stopAll();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch(async (error) => {
  console.error(`signal failed to start: ${error.message}`);
  await stopAll();
  process.exit(1);
});
