import WebSocket from 'ws';
import { opened } from './open-websocket.js';

export interface Frame {
  jsonrpc?: string;
  id?: number | string | null;
  method?: string;
  params?: Record<string, unknown>;
  result?: unknown;
  error?: { code: number; message: string; data?: { code?: string; field?: string } };
}

/**
 * A raw JSON-RPC WebSocket client for tests: keeps every frame it receives so a test can
 * wait for one, or assert that one never came.
 */
export class RpcClient {
  readonly frames: Frame[] = [];
  readonly raw: string[] = [];
  address = '';
  private nextId = 1;
  private waiters: Array<() => void> = [];
  closed: Promise<{ code: number; reason: string }>;
  /** Errors the socket reported after opening (e.g. a frame the client found invalid). */
  readonly errors: Error[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const text = String(data);
      this.raw.push(text);
      if (text !== '_pong') {
        const frame = JSON.parse(text) as Frame;
        if (frame.method === 'signal.connected') this.address = String(frame.params!.address);
        this.frames.push(frame);
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
    ws.on('error', (error) => this.errors.push(error));
  }

  /** Opens a connection; rejects with `<status> <body>` when the upgrade is refused. */
  static async connect(url: string, dialect: 'native' | 'bit6' = 'native'): Promise<RpcClient> {
    const ws = new WebSocket(url);
    const client = new RpcClient(ws);
    await opened(ws);
    if (dialect === 'native') await client.next((f) => f.method === 'signal.connected');
    return client;
  }

  notify(method: string, params: Record<string, unknown>): void {
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', method, params }));
  }

  /** Sends a request and resolves with its response frame (result or error). */
  async request(method: string, params: Record<string, unknown>): Promise<Frame> {
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    return this.next((f) => f.id === id && f.method === undefined);
  }

  async call(method: string, params: Record<string, unknown>): Promise<unknown> {
    const frame = await this.request(method, params);
    if (frame.error) throw new Error(`${method} failed: ${frame.error.message}`);
    return frame.result;
  }

  /** Resolves with the first frame (old or new) matching the predicate; consumes it. */
  async next(match: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.frames.findIndex(match);
      if (index !== -1) return this.frames.splice(index, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Frames of a method, for asserting what did (not) arrive. */
  received(method: string): Frame[] {
    return this.frames.filter((f) => f.method === method);
  }

  close(): void {
    this.ws.close();
  }
}

/**
 * Proves absence without a fixed sleep: sends a marker after the traffic under test along
 * the same path, so once the marker arrives anything sent before it would have too.
 */
export async function settle(receiver: RpcClient, sendMarker: (marker: string) => Promise<void>): Promise<void> {
  const marker = `marker-${Math.random().toString(36).slice(2)}`;
  await sendMarker(marker);
  await receiver.next((f) => JSON.stringify(f.params ?? {}).includes(marker));
}
