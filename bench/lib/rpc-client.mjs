import WebSocket from 'ws';

/** An integer environment variable of a benchmark, at least 1. */
export function intEnv(name, fallback) {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
}

/**
 * A bare JSON-RPC client for the benchmarks: requests resolve with their response; every frame
 * is handed to `onFrame` (as text), nothing is kept.
 */
export class RpcClient {
  constructor(ws) {
    this.ws = ws;
    this.pending = new Map();
    this.nextId = 1;
    ws.on('message', (data) => {
      const text = String(data);
      this.onFrame(text);
      if (!text.startsWith('{"jsonrpc":"2.0","id":')) return;
      const frame = JSON.parse(text);
      const waiter = this.pending.get(frame.id);
      if (!waiter) return;
      this.pending.delete(frame.id);
      waiter(frame);
    });
  }

  /** Called with every frame; subclasses count what they need. */
  onFrame(_text) {}

  static async open(url) {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return new this(ws);
  }

  request(method, params) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${method} timed out`)), 30_000);
      this.pending.set(id, (frame) => {
        clearTimeout(timer);
        if (frame.error) reject(new Error(`${method}: ${frame.error.message}`));
        else resolve(frame.result);
      });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  notify(method, params) {
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', method, params }));
  }
}
