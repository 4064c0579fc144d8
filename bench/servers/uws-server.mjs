#!/usr/bin/env node
/**
 * The ceiling: a bare uWebSockets.js app (the same build our gateway uses). Subscribers send
 * one text frame naming a topic and are subscribed to it; POST /v1/signals renders each
 * signal once as the same JSON-RPC frame our gateway sends and hands it to app.publish, so
 * fan-out happens in native code. No NATS, no auth beyond a key compare, no validation.
 */
import uWS from 'uWebSockets.js';
import { signalsOf } from '../lib/http-body.mjs';

const port = Number(process.env.PORT ?? 0);
const authorization = `Bearer ${process.env.BENCH_SECRET}`;
if (!/native code/.test(String(uWS.App))) throw new Error('uWebSockets.js fell back to its JavaScript implementation');

const app = uWS.App();
app.ws('/ws', {
  // The same backpressure policy as the gateway's defaults.
  maxBackpressure: 1024 * 1024,
  closeOnBackpressureLimit: 1,
  idleTimeout: 120,
  sendPingsAutomatically: true,
  message: (ws, data) => {
    ws.subscribe(Buffer.from(data).toString('utf8'));
    ws.send('ok');
  },
});
app.post('/v1/signals', (res, req) => {
  const authorized = req.getHeader('authorization') === authorization;
  const chunks = [];
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  res.onData((chunk, last) => {
    chunks.push(Buffer.from(chunk.slice(0)));
    if (!last || aborted) return;
    res.cork(() => respond(res, authorized, Buffer.concat(chunks).toString('utf8')));
  });
});

function respond(res, authorized, text) {
  if (!authorized) {
    res.writeStatus('401 Unauthorized').end('{"message":"Invalid API key"}');
    return;
  }
  let signals;
  try {
    signals = signalsOf(text);
  } catch {
    res.writeStatus('400 Bad Request').end('{"message":"body is not valid JSON"}');
    return;
  }
  for (const signal of signals) {
    const channel = signal.to.channel;
    const frame = JSON.stringify({
      jsonrpc: '2.0',
      method: 'signal.publish',
      params: { event: signal.event ?? 'signal', message: signal.message, id: channel },
    });
    app.publish(channel, frame);
  }
  res.writeStatus('202 Accepted').writeHeader('content-type', 'application/json').end(`{"accepted":${signals.length}}`);
}

app.listen('127.0.0.1', port, (socket) => {
  if (!socket) throw new Error(`cannot listen on port ${port}`);
  console.log(JSON.stringify({ msg: 'ready', port: uWS.us_socket_local_port(socket) }));
});
process.on('SIGTERM', () => process.exit(0));
