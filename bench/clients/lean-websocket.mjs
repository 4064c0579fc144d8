/**
 * A minimal RFC 6455 client for subscribers that must cost as little CPU as possible: it does
 * the upgrade, answers pings, and hands each complete text/binary frame to `onFrame(buffer,
 * start, end, handle)` without copying it. No fragmentation (servers here never fragment), no
 * extensions. The `ws` library spends several microseconds per frame, which on a 2-core
 * machine makes the subscriber process, not the server, the bottleneck.
 */
import { randomBytes } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';

const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;
/** Status 1000, normal closure. */
const CLOSE_NORMAL = Buffer.from([0x03, 0xe8]);

export function leanConnect(url, onFrame) {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: target.hostname, port: Number(target.port), noDelay: true });
    const state = { open: false };
    let pending = Buffer.alloc(0);
    let upgraded = false;
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.write(
        `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    const handle = {
      send: (text) => socket.write(frame(OP_TEXT, Buffer.from(text))),
      close: () => socket.destroy(),
      /** The closing handshake: resolves once the server answered the close frame and the socket is closed. */
      closeCleanly: () =>
        new Promise((resolveClose) => {
          if (socket.destroyed) return resolveClose();
          socket.once('close', resolveClose);
          socket.write(frame(OP_CLOSE, CLOSE_NORMAL));
        }),
      isOpen: () => state.open,
    };
    socket.on('close', () => {
      state.open = false;
      handle.onClose?.();
    });
    socket.on('data', (chunk) => {
      let buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let at = 0;
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) {
          pending = buf;
          return;
        }
        const status = buf.toString('latin1', 0, buf.indexOf('\r\n'));
        if (!/^HTTP\/1\.1 101/.test(status)) {
          socket.destroy();
          return reject(new Error(`upgrade refused: ${buf.toString('utf8', 0, Math.min(buf.length, 300))}`));
        }
        upgraded = true;
        state.open = true;
        at = end + 4;
        resolve(handle);
      }
      while (buf.length - at >= 2) {
        const opcode = buf[at] & 0x0f;
        let length = buf[at + 1] & 0x7f;
        let header = 2;
        if (length === 126) {
          if (buf.length - at < 4) break;
          length = buf.readUInt16BE(at + 2);
          header = 4;
        } else if (length === 127) {
          if (buf.length - at < 10) break;
          length = Number(buf.readBigUInt64BE(at + 2));
          header = 10;
        }
        if (buf.length - at < header + length) break;
        const start = at + header;
        const end = start + length;
        if (opcode === OP_TEXT || opcode === OP_BINARY) onFrame(buf, start, end, handle);
        else if (opcode === OP_PING) socket.write(frame(OP_PONG, buf.subarray(start, end)));
        else if (opcode === OP_CLOSE) socket.end();
        at = end;
      }
      pending = at === buf.length ? Buffer.alloc(0) : buf.subarray(at);
    });
  });
}

/** A masked client frame (clients must mask; the mask may be anything, zeros included). */
function frame(opcode, payload) {
  const length = payload.length;
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const out = Buffer.alloc(header + 4 + length);
  out[0] = 0x80 | opcode;
  if (header === 2) out[1] = 0x80 | length;
  else if (header === 4) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(length, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(length), 2);
  }
  payload.copy(out, header + 4);
  return out;
}
