import type { ServiceProcess } from '@signal/harness';
import WebSocket from 'ws';

/**
 * The environment that makes a service process open its inspector on a free loopback port
 * (printed as "Debugger listening on ws://…" on stderr), for `holdMainThread`.
 */
export const INSPECTABLE = { NODE_OPTIONS: '--inspect=127.0.0.1:0' };

/**
 * Keeps a service's main thread busy for `ms` with a synchronous loop evaluated through its
 * inspector: its event loop runs nothing else meanwhile (no timers, no socket reads), as in a
 * long synchronous task, while its worker threads go on. Resolves when the loop has ended.
 */
export async function holdMainThread(service: ServiceProcess, ms: number): Promise<void> {
  const line = await service.waitForLine((l) => l.includes('Debugger listening on ws://'));
  const url = /ws:\/\/\S+/.exec(line)![0];
  const socket = new WebSocket(url);
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  try {
    const answered = new Promise<void>((resolve, reject) => {
      socket.on('message', (data: Buffer) => {
        const message = JSON.parse(String(data)) as { id?: number; error?: { message: string } };
        if (message.id !== 1) return;
        if (message.error) reject(new Error(message.error.message));
        else resolve();
      });
    });
    const expression = `{ const until = Date.now() + ${ms}; while (Date.now() < until) {} }`;
    socket.send(JSON.stringify({ id: 1, method: 'Runtime.evaluate', params: { expression } }));
    await answered;
  } finally {
    socket.close();
  }
}
