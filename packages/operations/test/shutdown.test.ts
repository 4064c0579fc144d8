import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Readiness, Shutdown } from '../src/mod.js';

const log = pino({ level: 'silent' });

function shutdownWith(timeoutMs: number, delayMs = 0) {
  const readiness = new Readiness();
  readiness.markStarted();
  let resolveExit: (code: number) => void;
  const exited = new Promise<number>((resolve) => (resolveExit = resolve));
  const shutdown = new Shutdown({ timeoutMs, delayMs, readiness, log, exit: (code) => resolveExit(code) });
  return { readiness, shutdown, exited };
}

describe('Shutdown', () => {
  it('reports not-ready first, then runs stages in order and hooks in the order added, then exits 0', async () => {
    const { readiness, shutdown, exited } = shutdownWith(5000, 50);
    const order: string[] = [];
    shutdown.add('disconnect', 'nats', () => void order.push('disconnect/nats'));
    shutdown.add('release', 'presence', async () => {
      await new Promise((r) => setTimeout(r, 10));
      order.push('release/presence');
    });
    shutdown.add('stop-intake', 'listener', () => void order.push('stop-intake/listener'));
    shutdown.add('close-clients', 'sockets', () => void order.push('close-clients/sockets'));
    shutdown.add('release', 'heartbeat', () => void order.push('release/heartbeat'));
    void shutdown.begin('test');
    expect((await readiness.evaluate()).ready).toBe(false);
    expect(order).toEqual([]);
    expect(await exited).toBe(0);
    expect(order).toEqual(['stop-intake/listener', 'close-clients/sockets', 'release/presence', 'release/heartbeat', 'disconnect/nats']);
    expect((await readiness.evaluate()).checks.lifecycle).toEqual({ ready: false, detail: 'shutting down' });
  });

  it('keeps going when a hook fails', async () => {
    const { shutdown, exited } = shutdownWith(5000);
    const ran: string[] = [];
    shutdown.add('close-clients', 'broken', () => {
      throw new Error('boom');
    });
    shutdown.add('disconnect', 'nats', () => void ran.push('nats'));
    void shutdown.begin('test');
    expect(await exited).toBe(0);
    expect(ran).toEqual(['nats']);
  });

  it('exits with 1 at the deadline when a hook never finishes', async () => {
    const { shutdown, exited } = shutdownWith(200);
    const after: string[] = [];
    shutdown.add('release', 'stuck', () => new Promise<void>(() => undefined));
    shutdown.add('disconnect', 'nats', () => void after.push('nats'));
    void shutdown.begin('test');
    expect(await exited).toBe(1);
    expect(after).toEqual([]);
  });

  it('runs once however often it is asked, with the first exit code', async () => {
    const { shutdown, exited } = shutdownWith(5000);
    let runs = 0;
    shutdown.add('stop-intake', 'count', () => void runs++);
    const first = shutdown.begin('nats lost', 1);
    const second = shutdown.begin('SIGTERM');
    expect(second).toBe(first);
    expect(await exited).toBe(1);
    expect(runs).toBe(1);
    expect(() => shutdown.add('release', 'late', () => undefined)).toThrow(/after shutdown began/);
  });
});
