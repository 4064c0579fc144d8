#!/usr/bin/env node
/**
 * Load for bench/webhooks.mjs, in its own process so that issuing joins and leaves never
 * competes with the receiver for one event loop: clients that each join and leave their own
 * presence channel, every join carrying its send time (`state.t`, Date.now(): one machine, one
 * clock) for the receiver to measure from.
 */
import { connect, headers } from '@nats-io/transport-node';
import { encodeToken } from '@signal/core';
import { serveIpc } from '../lib/ipc-server.mjs';
import { RpcClient } from '../lib/rpc-client.mjs';

/**
 * MODE=bucket: no gateways in the path; each "client" writes its participant entry straight
 * into the presence bucket (a KV put, a KV delete), as a gateway would, so the figures are the
 * dispatcher's alone: from the write to the webhook request.
 */
class BucketParticipant {
  constructor(nc, channel, n) {
    this.nc = nc;
    this.channel = channel;
    this.subject = `$KV.signal_presence.bench.test.${encodeToken(channel)}.benchnode.c${n}`;
    this.address = `b${n}/bench/benchnode-c${n}`;
  }

  async request(method) {
    const h = headers();
    let data = '';
    if (method === 'signal.leave') h.set('KV-Operation', 'DEL');
    else data = JSON.stringify({ channel: this.channel, address: this.address, identity: `b${this.address.slice(1).split('/')[0]}`, device: 'bench', node: 'benchnode', instance: 'bench', joinedAt: Date.now(), state: { t: Date.now() } });
    const ack = (await this.nc.request(this.subject, data, { headers: h, timeout: 30_000 })).json();
    if (ack.error) throw new Error(ack.error.description);
  }
}

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
  async open({ targets, natsUrl }) {
    const nc = natsUrl === undefined ? undefined : await connect({ servers: natsUrl });
    clients = await Promise.all(
      targets.map(async ({ url, channel, n }) => ({ client: nc ? new BucketParticipant(nc, channel, n) : await RpcClient.open(url), channel, joined: false, busy: false })),
    );
    return { opened: clients.length };
  },

  /**
   * `rate` operations per second for `seconds`: every 10 ms, the operations owed by then go to the next
   * idle clients in turn (a busy one, whose last join or leave is unanswered, is passed over); an
   * operation no client is idle for is skipped, and counted: the rate was not offered.
   */
  async steady({ rate, seconds }) {
    issued = 0;
    errors = 0;
    let skipped = 0;
    let next = 0;
    let offered = 0;
    const started = performance.now();
    await new Promise((resolve) => {
      const timer = setInterval(() => {
        const elapsed = performance.now() - started;
        if (elapsed >= seconds * 1000) {
          clearInterval(timer);
          resolve();
          return;
        }
        // Owed by the clock, not by ticks: a busy machine fires 10 ms timers late, and counting
        // ticks would offer less than `rate`.
        for (; offered < (rate * elapsed) / 1000; offered++) {
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
    for (const c of clients) c.client.ws?.close();
    await clients[0]?.client.nc?.close();
    return {};
  },
});
