import type { WebSocket } from 'uWebSockets.js';

/** Every open WebSocket of every surface, for whole-node actions: shutdown, slow-consumer checks. */
export class OpenSockets implements Iterable<WebSocket<unknown>> {
  private readonly sockets = new Set<WebSocket<unknown>>();

  add(ws: WebSocket<unknown>): void {
    this.sockets.add(ws);
  }

  delete(ws: WebSocket<unknown>): void {
    this.sockets.delete(ws);
  }

  get size(): number {
    return this.sockets.size;
  }

  [Symbol.iterator](): Iterator<WebSocket<unknown>> {
    return this.sockets.values();
  }

  /** Sends each a close frame; uWS runs every close handler before this returns. */
  closeAll(code: number, reason: string): void {
    for (const ws of [...this.sockets]) ws.end(code, reason);
  }
}
