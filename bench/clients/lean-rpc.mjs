/**
 * A native-protocol JSON-RPC client on the lean WebSocket (lean-websocket.mjs), for benchmarks
 * where clients receive hundreds of thousands of frames per second: only responses are parsed;
 * notifications are recognised by their method at a fixed offset (the gateway renders every
 * frame as `{"jsonrpc":"2.0","id":…` or `{"jsonrpc":"2.0","method":"<name>",…`) and counted.
 */
import { leanConnect } from './lean-websocket.mjs';

const REPLY_PREFIX = Buffer.from('{"jsonrpc":"2.0","id":');
const METHOD_AT = '{"jsonrpc":"2.0","method":"'.length;
const LEAVE = Buffer.from('signal.leave"');
const ERROR_AFTER_ID = Buffer.from(',"error":');
const JOIN_FROM = Buffer.from('signal.join","params":{"from":"');

/** Whether `buf` holds `bytes` at `at` (no copy, no string). */
function holds(buf, at, bytes) {
  return buf.compare(bytes, 0, bytes.length, at, at + bytes.length) === 0;
}
const REQUEST_TIMEOUT_MS = 30_000;

export class LeanRpc {
  constructor() {
    this.frames = 0;
    this.leaves = 0;
    this.pending = new Map();
    this.nextId = 1;
    /** Called with the identity of every `signal.join` this client gets, while set. */
    this.onJoinFrom = undefined;
    /** Called after every `signal.leave` this client gets, while set. */
    this.onLeave = undefined;
    this.handle = undefined;
  }

  static async open(url) {
    const client = new LeanRpc();
    client.handle = await leanConnect(url, (buf, start, end) => client.onFrame(buf, start, end));
    return client;
  }

  onFrame(buf, start, end) {
    this.frames++;
    // Every frame is longer than each prefix compared: the shortest is a reply `{"jsonrpc":"2.0","id":1,"result":{}}`.
    if (holds(buf, start, REPLY_PREFIX)) return this.onReply(buf, start, end);
    if (end - start < METHOD_AT + LEAVE.length) return;
    if (holds(buf, start + METHOD_AT, LEAVE)) {
      this.leaves++;
      this.onLeave?.();
      return;
    }
    if (this.onJoinFrom && end - start > METHOD_AT + JOIN_FROM.length && holds(buf, start + METHOD_AT, JOIN_FROM)) {
      const at = start + METHOD_AT + JOIN_FROM.length;
      const slash = buf.indexOf(0x2f, at);
      if (slash !== -1 && slash < end) this.onJoinFrom(buf.toString('utf8', at, slash));
    }
  }

  /**
   * A reply `{"jsonrpc":"2.0","id":<n>,"result"|"error":…`: the id is read in place, and the
   * frame is parsed only for a waiter that wants the result, or for an error.
   */
  onReply(buf, start, end) {
    let at = start + REPLY_PREFIX.length;
    let id = 0;
    while (buf[at] >= 0x30 && buf[at] <= 0x39) id = id * 10 + (buf[at++] - 0x30);
    const waiter = this.pending.get(id);
    if (!waiter) return;
    this.pending.delete(id);
    const failed = holds(buf, at, ERROR_AFTER_ID);
    waiter(failed || waiter.wantsResult ? JSON.parse(buf.toString('utf8', start, end)) : undefined);
  }

  /**
   * Resolves with the result, or, with `{ result: false }`, with undefined once the request
   * succeeded, without building the result: a client simulating a thousand members in one
   * process must not spend the gateways' cores parsing lists it does not read.
   */
  request(method, params, { result = true } = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method} timed out`));
      }, REQUEST_TIMEOUT_MS);
      const waiter = (frame) => {
        clearTimeout(timer);
        if (frame?.error) reject(new Error(`${method}: ${frame.error.message}`));
        else resolve(frame?.result);
      };
      waiter.wantsResult = result;
      this.pending.set(id, waiter);
      this.handle.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  notify(method, params) {
    this.handle.send(JSON.stringify({ jsonrpc: '2.0', method, params }));
  }

  close() {
    this.handle.close();
  }

  /** Closes with the WebSocket handshake: resolves once the server has seen the close (its close frame came back). */
  closeCleanly() {
    return this.handle.closeCleanly();
  }
}
