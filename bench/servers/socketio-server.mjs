#!/usr/bin/env node
/**
 * The predecessor's stack: a Socket.IO 4.8 server on node:http (default `ws` engine,
 * WebSocket transport only). Subscribers emit `join` with a room name; POST /v1/signals
 * emits each signal to its room as the predecessor did: event `signal`, payload
 * `{message, event, env}`. Socket.IO encodes a room broadcast once and writes it per socket.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { signalsOf } from '../lib/http-body.mjs';

const port = Number(process.env.PORT ?? 0);
const authorization = `Bearer ${process.env.BENCH_SECRET}`;

const http = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/v1/signals') {
    res.writeHead(404).end();
    return;
  }
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    if (req.headers.authorization !== authorization) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"message":"Invalid API key"}');
      return;
    }
    let signals;
    try {
      signals = signalsOf(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"message":"body is not valid JSON"}');
      return;
    }
    for (const signal of signals) {
      const event = signal.event ?? 'signal';
      io.to(signal.to.channel).emit(event, { message: signal.message, event, env: 'test' });
    }
    const body = `{"accepted":${signals.length}}`;
    res.writeHead(202, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
});
http.keepAliveTimeout = 65_000;

const io = new Server(http, { transports: ['websocket'], serveClient: false });
io.on('connection', (socket) => {
  socket.on('join', (room, ack) => {
    socket.join(room);
    if (typeof ack === 'function') ack({ id: room });
  });
});

http.listen(port, '127.0.0.1', () => {
  console.log(JSON.stringify({ msg: 'ready', port: http.address().port }));
});
process.on('SIGTERM', () => process.exit(0));
