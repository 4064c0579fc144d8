import { setTimeout as sleep } from 'node:timers/promises';
import { cpuSnapshot, machineSnapshot } from './cpu.mjs';
import { Histogram } from './histogram.mjs';

const NO_PROGRESS_MS = 1000;
const QUIET_MS = 300;
const RESET_AFTER_MS = 1500;
const IDLE_WINDOW_MS = 500;
/** Cores: the whole machine (this benchmark included) must be this quiet before a step starts. */
const IDLE_BELOW = 0.25;
const IDLE_CAP_MS = 8_000;
/** Cores used by other programs during a step above which the step is measured again. */
export const NOISY_ABOVE = 0.3;
/** Past this p99, or with messages missing, a system is over capacity: higher rates are not run. */
const SATURATED_P99_MICROS = 1_000_000;

/**
 * One measured step: offer `rate` messages/s to `system` for `seconds`, wait for stragglers,
 * and collect deliveries, latencies and every process's CPU. It starts only once the machine
 * is nearly idle, so a previous step's backlog never overlaps this one.
 */
export async function runStep(bench, { step, system, rate, seconds }) {
  const { options, pids, serverProcesses, targets, publisher, subscribers, secrets, channel } = bench;
  const secret = secrets[system];
  const subs = subscribers[system];
  const { connected, replaced } = await subs.call('connect');
  const idle = await waitIdle();
  await subs.call('begin', { step });
  const cpu0 = cpuSnapshot(pids);
  const machine0 = machineSnapshot();
  const wall0 = process.hrtime.bigint();
  const pub = await publisher.call('run', {
    url: targets[system].publish, secret, channel, step, rate, batch: options.batch, seconds,
    connections: options.connections, pad: options.pad,
  });
  const expected = (pub.sent - pub.failed) * connected;
  const drainStart = Date.now();
  let lastReceived = -1;
  let progressAt = Date.now();
  for (;;) {
    const { received } = await subs.call('status');
    if (received >= expected) break;
    if (received !== lastReceived) progressAt = Date.now();
    lastReceived = received;
    if (Date.now() - progressAt > NO_PROGRESS_MS || Date.now() - drainStart > options.drainSeconds * 1000) break;
    await sleep(50);
  }
  const wallSeconds = Number(process.hrtime.bigint() - wall0) / 1e9;
  const cpu1 = cpuSnapshot(pids);
  const machine1 = machineSnapshot();
  const report = await subs.call('report');
  // An overloaded server may hold a backlog of many seconds; dropping its subscribers discards it.
  const reset = !(await waitQuiet(subs, RESET_AFTER_MS));
  if (reset) await subs.call('disconnect');

  const hist = new Histogram();
  hist.addSparse(report.hist);
  const used = (name) => cpu1[name] - cpu0[name];
  const serverCpuSeconds = serverProcesses[system].reduce((sum, name) => sum + used(name), 0);
  const benchCores = Object.keys(pids).reduce((sum, name) => sum + used(name), 0) / wallSeconds;
  const result = {
    system, rate, seconds, subscribers: connected, replacedSubscribers: replaced, startedIdle: idle, reset,
    offered: pub.offered, sent: pub.sent, accepted: pub.accepted, unanswered: pub.unanswered, skipped: pub.skipped,
    failedRequests: pub.failedRequests, firstError: pub.firstError,
    expected, received: report.received, disconnects: report.disconnects,
    sentPerSecond: (pub.sent - pub.failed) / seconds,
    deliveredPerSecond: report.received > 0 ? report.received / ((report.lastReceive - pub.firstSend) / 1e6) : 0,
    p50: hist.quantile(0.5), p99: hist.quantile(0.99), max: hist.max,
    machineBusyCores: (machine1.busy - machine0.busy) / wallSeconds,
    softirqCores: (machine1.softirq - machine0.softirq) / wallSeconds,
    // Loopback networking shows up as softirq time, mostly not charged to any process: it is ours.
    otherLoadCores: Math.max(0, (machine1.busy - machine0.busy - (machine1.softirq - machine0.softirq)) / wallSeconds - benchCores),
    cpu: Object.fromEntries(Object.keys(pids).map((name) => [name, used(name) / wallSeconds])),
    serverCpuMicrosPerDelivery: report.received > 0 ? (serverCpuSeconds * 1e6) / report.received : NaN,
  };
  const allDelivered = !reset && result.received >= 0.99 * expected;
  result.saturated = !allDelivered || result.p99 > SATURATED_P99_MICROS;
  result.keptUp = allDelivered && result.p99 <= options.p99LimitMicros;
  return result;
}

/**
 * Waits until the machine is nearly idle: no backlog of a previous step, and as little as
 * possible of whatever else runs on this shared machine.
 */
async function waitIdle() {
  const start = Date.now();
  while (Date.now() - start < IDLE_CAP_MS) {
    const before = machineSnapshot();
    await sleep(IDLE_WINDOW_MS);
    const after = machineSnapshot();
    if ((after.busy - before.busy) / (IDLE_WINDOW_MS / 1000) < IDLE_BELOW) return true;
  }
  return false;
}

/** Waits until the subscribers have seen no bench frame for a moment. */
async function waitQuiet(subs, capMs) {
  const start = Date.now();
  while (Date.now() - start < capMs) {
    const { now, lastAny } = await subs.call('status');
    if ((now - lastAny) / 1000 >= QUIET_MS) return true;
    await sleep(100);
  }
  return false;
}
