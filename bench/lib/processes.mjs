import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

const running = new Set();

/**
 * Starts a server process and resolves once it logs `{"msg":"ready","port":N}`. Its output
 * is always read (a full pipe would stall it) and the last lines are kept for error reports.
 * Not the harness's startService: profiling needs node flags (`--prof`), which it cannot
 * pass and NODE_OPTIONS does not allow.
 */
export async function startServer(name, entry, { env = {}, nodeArgs = [], timeoutMs = 20_000 } = {}) {
  const child = spawn(process.execPath, [...nodeArgs, entry], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return track(name, child, timeoutMs);
}

/** Starts a client process (publisher, subscribers) that takes commands over IPC. */
export function startClient(name, entry) {
  const child = fork(entry, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return new IpcClient(name, child);
}

function track(name, child, timeoutMs) {
  running.add(child);
  const tail = [];
  const keep = (line) => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
  };
  createInterface({ input: child.stderr }).on('line', keep);
  const lines = createInterface({ input: child.stdout });
  return new Promise((resolve, reject) => {
    const fail = (why) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${name} ${why}; last output:\n${tail.join('\n')}`));
    };
    const timer = setTimeout(() => fail(`was not ready within ${timeoutMs} ms`), timeoutMs);
    child.once('exit', (code, signal) => {
      running.delete(child);
      fail(`exited (${signal ?? code}) before it was ready`);
    });
    lines.on('line', (line) => {
      keep(line);
      if (!line.includes('"msg":"ready"')) return;
      let port;
      try {
        port = JSON.parse(line).port;
      } catch {
        return;
      }
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.once('exit', () => running.delete(child));
      resolve({ name, pid: child.pid, port, stop: () => stopProcess(child) });
    });
  });
}

/** A child that answers each `{id, cmd, ...}` message with `{id, ok, ...}` or `{id, error}`. */
class IpcClient {
  constructor(name, child) {
    this.name = name;
    this.child = child;
    this.pid = child.pid;
    this.nextId = 0;
    this.pending = new Map();
    child.on('message', (reply) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if (reply.error) waiter.reject(new Error(`${name}: ${reply.error}`));
      else waiter.resolve(reply);
    });
    child.once('exit', (code, signal) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`${name} exited (${signal ?? code})`));
      this.pending.clear();
    });
  }

  call(cmd, args = {}) {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, cmd, ...args });
    });
  }

  stop() {
    return stopProcess(this.child);
  }
}

async function stopProcess(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Last resort on an abnormal exit: no process this benchmark started outlives it. */
export function killAll() {
  for (const child of running) child.kill('SIGKILL');
}
