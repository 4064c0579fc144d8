#!/usr/bin/env node
/**
 * Open-loop load generator: POSTs /v1/signals at a fixed message rate over keep-alive
 * connections, each message stamped with its publish time. It does not wait for answers
 * before sending more (a server that falls behind gets queued requests, whose wait counts in
 * the latency), but stops queueing past a bound and reports what it could not offer.
 */
import http from 'node:http';
import { nowMicros } from '../lib/clock.mjs';
import { serveIpc } from '../lib/ipc-server.mjs';
import { benchMessage } from '../lib/payload.mjs';

const MAX_OUTSTANDING_REQUESTS = 2000;
const SETTLE_TIMEOUT_MS = 10_000;

function run({ url, secret, channel, step, rate, batch, seconds, connections, pad }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const target = new URL('/v1/signals', url);
  const padding = 'x'.repeat(pad);
  const headers = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
  const durationMicros = seconds * 1e6;
  const result = { offered: 0, sent: 0, accepted: 0, skipped: 0, failedRequests: 0, failed: 0, firstError: undefined, firstSend: 0, lastSend: 0 };
  let outstanding = 0;
  let issued = 0;

  const post = () => {
    const ts = nowMicros();
    if (result.firstSend === 0) result.firstSend = ts;
    result.lastSend = ts;
    const message = benchMessage(step, ts, padding);
    const body = batch === 1
      ? JSON.stringify({ to: { channel }, event: 'signal', message })
      : JSON.stringify({ signals: Array.from({ length: batch }, () => ({ to: { channel }, event: 'signal', message })) });
    outstanding++;
    result.sent += batch;
    const req = http.request(target, { method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.once('end', () => {
        outstanding--;
        if (res.statusCode === 202) result.accepted += batch;
        else fail(`HTTP ${res.statusCode}`);
      });
    });
    req.once('error', (error) => {
      outstanding--;
      fail(error.message);
    });
    req.end(body);
  };
  const fail = (why) => {
    result.failedRequests++;
    result.failed += batch;
    result.firstError ??= why;
  };

  return new Promise((resolve) => {
    const start = nowMicros();
    const tick = () => {
      const elapsed = nowMicros() - start;
      const due = Math.min(Math.floor((Math.min(elapsed, durationMicros) * rate) / 1e6 / batch) + 1, Math.floor((seconds * rate) / batch));
      while (issued < due) {
        issued++;
        result.offered += batch;
        if (outstanding >= MAX_OUTSTANDING_REQUESTS) result.skipped += batch;
        else post();
      }
      if (elapsed < durationMicros) return void setTimeout(tick, 1);
      const settleStart = Date.now();
      const settle = () => {
        if (outstanding > 0 && Date.now() - settleStart < SETTLE_TIMEOUT_MS) return void setTimeout(settle, 5);
        agent.destroy();
        resolve({ ...result, unanswered: outstanding });
      };
      settle();
    };
    tick();
  });
}

serveIpc({ run });
