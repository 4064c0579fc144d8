#!/usr/bin/env node
// The test suite runs real programs: nats-server (every end-to-end test), chromium (the SDK's
// browser test), haproxy (the load balancer config check) and kubectl (rendering deploy/ with
// kustomize). On Debian as root, missing ones are installed from Debian's packages; elsewhere this
// stops with what to install, instead of letting tests fail one by one.
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

const tools = [
  { name: 'nats-server', paths: ['/usr/sbin/nats-server', '/usr/local/bin/nats-server'], debian: 'nats-server' },
  { name: 'chromium', paths: ['/usr/bin/chromium'], debian: 'chromium' },
  { name: 'haproxy', paths: ['/usr/sbin/haproxy'], debian: 'haproxy' },
  { name: 'kubectl', paths: ['/usr/bin/kubectl', '/usr/local/bin/kubectl'], debian: undefined },
];

function found(tool) {
  if (spawnSync('sh', ['-c', `command -v ${tool.name}`], { stdio: 'ignore' }).status === 0) return true;
  return tool.paths.some((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const missing = tools.filter((tool) => !found(tool));
if (missing.length === 0) process.exit(0);

const installable = missing.filter((tool) => tool.debian);
const canApt = process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
if (canApt && installable.length > 0) {
  const packages = installable.map((tool) => tool.debian);
  console.log(`installing test tools from Debian's packages: ${packages.join(' ')}`);
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

const still = tools.filter((tool) => !found(tool));
if (still.length > 0) {
  console.error(
    `the test suite needs: ${still.map((t) => t.name).join(', ')}.\n` +
      `Install them (Debian: apt-get install ${still.filter((t) => t.debian).map((t) => t.debian).join(' ') || '…'}; ` +
      `kubectl 1.27+ from your Kubernetes distribution), or set NATS_SERVER_BIN for a nats-server elsewhere.`,
  );
  process.exit(1);
}
