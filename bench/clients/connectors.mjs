/**
 * How one subscriber of each system connects and joins the channel, with the client
 * libraries (`ws`, socket.io-client) or with the lean client that speaks the same protocols
 * over a minimal WebSocket. Each resolves to `{close, isOpen}` once the subscriber is a
 * member, and from then on reports every frame's stamp through `onStamp(step, ts)`.
 */
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { readStamp } from '../lib/payload.mjs';
import { leanConnect } from './lean-websocket.mjs';

const JOIN_ID = 1;

function joinRequest(channel) {
  return JSON.stringify({ jsonrpc: '2.0', id: JOIN_ID, method: 'signal.join', params: { id: channel } });
}

function subscribeUrl(system, setup, index) {
  switch (system) {
    case 'ours':
      return `${setup.url}/v1/connect?token=${encodeURIComponent(setup.tokens[index])}`;
    case 'uws':
      return `${setup.url}/ws`;
    case 'socketio':
      return `${setup.url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`;
    case 'ours-sio':
      return `${setup.url}/signal/?EIO=4&transport=websocket`;
  }
}

const library = {
  ours: (index, setup, onStamp, onClose) => wsLibrary(subscribeUrl('ours', setup, index), onStamp, onClose, (ws, joined, fail) => {
    // signal.connected comes first; then the join's response.
    ws.once('message', () => {
      ws.on('message', function reply(data) {
        const frame = JSON.parse(data.toString());
        if (frame.id !== JOIN_ID) return;
        ws.off('message', reply);
        if (frame.error) fail(new Error(`signal.join failed: ${frame.error.message}`));
        else joined();
      });
      ws.send(joinRequest(setup.channel));
    });
  }),
  uws: (index, setup, onStamp, onClose) => wsLibrary(subscribeUrl('uws', setup, index), onStamp, onClose, (ws, joined) => {
    ws.once('message', joined);
    ws.send(setup.channel);
  }),
  'ours-sio': (_index, setup, onStamp, onClose) => new Promise((resolve, reject) => {
    const socket = io(`${setup.url.replace(/^ws/, 'http')}/signal`, { path: '/signal', transports: ['websocket'], reconnection: false, forceNew: true });
    socket.once('connect_error', reject);
    socket.once('disconnect', onClose);
    socket.once('willDisconnect', (payload) => reject(new Error(`authentication refused: ${payload.error}`)));
    socket.on('signal', (payload) => onStamp(payload.message.s, payload.message.ts));
    socket.once('authentication', (_id, ack) => {
      ack({ publishableKey: setup.publishableKey, channels: setup.channel });
      setTimeout(() => resolve({ close: () => socket.close(), isOpen: () => socket.connected }), STELACE_SETTLE_MS);
    });
  }),
  socketio: (_index, setup, onStamp, onClose) => new Promise((resolve, reject) => {
    const socket = io(setup.url, { transports: ['websocket'], reconnection: false, forceNew: true });
    socket.once('connect_error', reject);
    socket.once('disconnect', onClose);
    socket.once('connect', () => {
      socket.emit('join', setup.channel, () => {
        socket.on('signal', (payload) => onStamp(payload.message.s, payload.message.ts));
        resolve({ close: () => socket.close(), isOpen: () => socket.connected });
      });
    });
  }),
};

/**
 * A Stelace handshake has no success answer, so a subscriber counts as joined a moment after
 * its `authentication` ack; the unmeasured warm-up step runs before anything is measured.
 */
const STELACE_SETTLE_MS = 100;

function wsLibrary(url, onStamp, onClose, join) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true });
    ws.once('error', reject);
    ws.once('close', onClose);
    ws.once('open', () =>
      join(
        ws,
        () => {
          ws.on('message', (data) => {
            const stamp = readStamp(data);
            if (stamp) onStamp(stamp.step, stamp.ts);
          });
          resolve({ close: () => ws.close(), isOpen: () => ws.readyState === WebSocket.OPEN });
        },
        reject,
      ),
    );
  });
}

/**
 * Lean subscribers: the handshake is a small state machine over text frames; after it, a
 * frame is only scanned for its stamp. Socket.IO's side is Engine.IO v4 / Socket.IO v5:
 * `0{..}` open, `40` connect, `420[...]` event with ack 0, `430[...]` its ack, `2`/`3` ping/pong.
 */
const lean = {
  ours: (index, setup, onStamp, onClose) => leanJoin(subscribeUrl('ours', setup, index), onStamp, onClose, (text, send) => {
    if (text.includes('"signal.connected"')) send(joinRequest(setup.channel));
    else if (text.includes(`"id":${JOIN_ID}`)) {
      if (text.includes('"error"')) throw new Error(`signal.join failed: ${text}`);
      return true;
    }
    return false;
  }),
  uws: (index, setup, onStamp, onClose) => leanJoin(subscribeUrl('uws', setup, index), onStamp, onClose, (text, send, first) => {
    if (first) send(setup.channel);
    return text === 'ok';
  }, true),
  'ours-sio': (index, setup, onStamp, onClose) => leanJoin(subscribeUrl('ours-sio', setup, index), onStamp, onClose, (text, send) => {
    if (text.startsWith('0{')) send('40/signal,');
    else if (text.startsWith('42/signal,')) {
      // `42/signal,<ack id>["authentication","<connection id>"]`: answer the ack with the keys.
      const ackId = /^42\/signal,(\d+)/.exec(text)?.[1];
      send(`43/signal,${ackId}${JSON.stringify([{ publishableKey: setup.publishableKey, channels: setup.channel }])}`);
      return new Promise((resolve) => setTimeout(() => resolve(true), STELACE_SETTLE_MS));
    }
    return false;
  }, false, answerEnginePing),
  socketio: (index, setup, onStamp, onClose) => leanJoin(subscribeUrl('socketio', setup, index), onStamp, onClose, (text, send) => {
    if (text.startsWith('0{')) send('40');
    else if (text.startsWith('40')) send(`420${JSON.stringify(['join', setup.channel])}`);
    else if (text.startsWith('430')) return true;
    return false;
  }, false, answerEnginePing),
};

/** Engine.IO v4 ping ("2") must be answered ("3") or the server drops the connection. */
function answerEnginePing(buf, start, end, send) {
  if (end - start === 1 && buf[start] === 0x32) send('3');
}

function leanJoin(url, onStamp, onClose, handshake, speakFirst = false, onOther) {
  return new Promise((resolve, reject) => {
    let joined = false;
    const step = (handle, text, first) => {
      const fail = (error) => {
        handle.close();
        reject(error);
      };
      const done = (isJoined) => {
        if (!isJoined) return;
        joined = true;
        resolve(handle);
      };
      try {
        const outcome = handshake(text, (reply) => handle.send(reply), first);
        if (outcome instanceof Promise) outcome.then(done, fail);
        else done(outcome);
      } catch (error) {
        fail(error);
      }
    };
    // Frames can arrive in the same read as the upgrade response, so each carries its handle.
    const onFrame = (buf, start, end, handle) => {
      if (!joined) return step(handle, buf.toString('utf8', start, end), false);
      const stamp = readStamp(buf, start, end);
      if (stamp) onStamp(stamp.step, stamp.ts);
      else onOther?.(buf, start, end, (reply) => handle.send(reply));
    };
    leanConnect(url, onFrame).then((handle) => {
      handle.onClose = onClose;
      if (speakFirst) step(handle, '', true);
    }, reject);
  });
}

export const connectors = { library, lean };
