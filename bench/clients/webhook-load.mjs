#!/usr/bin/env node
/**
 * Load for bench/webhooks.mjs, in its own process so that issuing joins and leaves never
 * competes with the receiver for one event loop: clients that each join and leave their own
 * presence channel, every join carrying its send time (`state.t`, Date.now(): one machine, one
 * clock) for the receiver to measure from.
 */
import { serveIpc } from '../lib/ipc-server.mjs';
import { RpcClient } from '../lib/rpc-client.mjs';

/** @type {{client: RpcClient, channel: string, joined: boolean, busy: boolean}[]} */
let clients = [];
let issued = 0;
let errors = 0;
let firstError;

async function step(c) {
  c.busy = true;
  try {
    if (c.joined) await c.client.request('signal.leave', { id: c.channel });
    else await c.client.request('signal.join', { id: c.channel, presence: true, state: { t: Date.now() } });
    c.joined = !c.joined;
    issued++;
  } catch (error) {
    errors++;
    firstError ??= error.message;
  } finally {
    c.busy = false;
  }
}

const idle = () => new Promise((resolve) => {
  const check = () => (clients.some((c) => c.busy) ? setTimeout(check, 5) : resolve());
  check();
});

serveIpc({
  async open({ targets }) {
    clients = await Promise.all(targets.map(async ({ url, channel }) => ({ client: await RpcClient.open(url), channel, joined: false, busy: false })));
    return { opened: clients.length };
  },

  /**
   * `rate` operations per second for `seconds`: every 10 ms, the operations owed go to the next
   * idle clients in turn (a busy one, whose last join or leave is unanswered, is passed over); an
   * operation no client is idle for is skipped, and counted: the rate was not offered.
   */
  async steady({ rate, seconds }) {
    issued = 0;
    errors = 0;
    let skipped = 0;
    let next = 0;
    let owed = 0;
    const perTick = rate / 100;
    const started = performance.now();
    await new Promise((resolve) => {
      const timer = setInterval(() => {
        if (performance.now() - started >= seconds * 1000) {
          clearInterval(timer);
          resolve();
          return;
        }
        owed += perTick;
        for (; owed >= 1; owed--) {
          let c;
          for (let tries = 0; tries < clients.length && (c === undefined || c.busy); tries++) c = clients[next++ % clients.length];
          if (c.busy) skipped++;
          else void step(c);
        }
      }, 10);
    });
    const ms = performance.now() - started;
    await idle();
    return { issued, skipped, errors, firstError, ms };
  },

  /** Every client as fast as it can for `seconds`. */
  async burst({ seconds }) {
    issued = 0;
    errors = 0;
    const started = performance.now();
    await Promise.all(clients.map(async (c) => {
      while (performance.now() - started < seconds * 1000) await step(c);
    }));
    return { issued, errors, firstError, ms: performance.now() - started };
  },

  async close() {
    for (const c of clients) c.client.ws.close();
    return {};
  },
});
