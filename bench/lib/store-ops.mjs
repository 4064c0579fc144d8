// Raw NATS figures for presence (bench/README.md, "Presence churn"): what the store itself
// sustains on this machine, and what each way of reading a channel costs, with IN_FLIGHT
// requests outstanding from one process. Measured on a bucket of its own, so the gateways'
// traffic does not mix in.
import { connect, createInbox, headers } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';

const IN_FLIGHT = 40;
/** Consumers open on the stream while puts are measured once more. */
const IDLE_FEEDS = 1000;
const BUCKET = 'bench_store_ops';
const STREAM = `KV_${BUCKET}`;
/** Generous: the machine is shared, and one late answer must not end the run. */
const TIMEOUT = { timeout: 30_000 };

/** Runs `op` with `inFlight` (IN_FLIGHT) in flight for `seconds`; operations per second. */
async function rate(seconds, op, inFlight = IN_FLIGHT) {
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  let i = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < deadline) {
        await op(i++);
        done++;
      }
    }),
  );
  return Math.round(done / ((performance.now() - started) / 1000));
}

/** Reads every key of `filter` with an ephemeral consumer, then deletes it (what main did per join). */
async function readByConsumer(nc, filter) {
  const inbox = createInbox();
  let expected;
  let received = 0;
  let finish;
  const done = new Promise((resolve) => (finish = resolve));
  const sub = nc.subscribe(inbox, {
    callback: () => {
      received++;
      if (expected !== undefined && received >= expected) finish();
    },
  });
  const config = { deliver_subject: inbox, deliver_policy: 'last_per_subject', filter_subject: `$KV.${BUCKET}.${filter}`, ack_policy: 'none', mem_storage: true, num_replicas: 1 };
  const reply = (await nc.request(`$JS.API.CONSUMER.CREATE.${STREAM}`, JSON.stringify({ stream_name: STREAM, config }), TIMEOUT)).json();
  expected = reply.num_pending;
  if (received >= expected) finish();
  await done;
  sub.unsubscribe();
  await nc.request(`$JS.API.CONSUMER.DELETE.${STREAM}.${reply.name}`, undefined, TIMEOUT);
  return received;
}

/** Stream info with subjects_filter lists the keys; a direct get per key fetches each. */
async function readByDirectGets(nc, filter) {
  const info = (await nc.request(`$JS.API.STREAM.INFO.${STREAM}`, JSON.stringify({ subjects_filter: `$KV.${BUCKET}.${filter}` }), TIMEOUT)).json();
  const subjects = Object.keys(info.state.subjects ?? {});
  await Promise.all(subjects.map((subject) => nc.request(`$JS.API.DIRECT.GET.${STREAM}`, JSON.stringify({ last_by_subj: subject }), TIMEOUT)));
  return subjects.length;
}

/**
 * A long-lived consumer over a channel (what a node's channel view follows): the cost of a
 * join is its put plus the put coming back through the consumer, no read at all.
 */
async function followChannel(nc, filter) {
  const inbox = createInbox();
  const waiters = new Map();
  const sub = nc.subscribe(inbox, {
    callback: (_error, msg) => {
      const key = msg.subject.slice(`$KV.${BUCKET}.`.length);
      waiters.get(key)?.();
      waiters.delete(key);
    },
  });
  const config = { deliver_subject: inbox, deliver_policy: 'new', filter_subject: `$KV.${BUCKET}.${filter}`, ack_policy: 'none', mem_storage: true, num_replicas: 1 };
  const reply = (await nc.request(`$JS.API.CONSUMER.CREATE.${STREAM}`, JSON.stringify({ stream_name: STREAM, config }), TIMEOUT)).json();
  return {
    echo: (key) => new Promise((resolve) => waiters.set(key, resolve)),
    close: async () => {
      sub.unsubscribe();
      await nc.request(`$JS.API.CONSUMER.DELETE.${STREAM}.${reply.name}`, undefined, TIMEOUT);
    },
  };
}

/** Every figure, `seconds` each. */
export async function measureStoreOps(natsUrl, seconds = 2) {
  const nc = await connect({ servers: natsUrl });
  const js = jetstream(nc, TIMEOUT);
  const kvm = new Kvm(js);
  const kv = await kvm.create(BUCKET, { history: 1, storage: 'memory' });
  const value = new TextEncoder().encode(JSON.stringify({ channel: 'c', address: 'a/b/n-c', identity: 'a', device: 'b', node: 'n', instance: 'i', joinedAt: 0 }));
  const fill = async (channel, n) => {
    for (let i = 0; i < n; i += 200) await Promise.all(Array.from({ length: Math.min(200, n - i) }, (_, k) => kv.put(`app.env.${channel}.n.${i + k}`, value)));
  };
  await fill('small', 10);
  await fill('large', 1000);
  const out = { direct: (await kv.status()).streamInfo.config.allow_direct };
  out.kvPut = await rate(seconds, (i) => kv.put(`app.env.put.n.${i % 5000}`, value));
  out.kvGet = await rate(seconds, (i) => kv.get(`app.env.put.n.${i % 5000}`));
  const h = headers();
  h.set('KV-Operation', 'DEL');
  out.kvDelete = await rate(seconds, (i) => js.publish(`$KV.${BUCKET}.app.env.put.n.${i % 5000}`, undefined, { headers: h }));
  out.consumerCreateDelete = await rate(seconds, () => readByConsumer(nc, 'app.env.small.*.*'));
  out.readSmallByDirectGets = await rate(seconds, () => readByDirectGets(nc, 'app.env.small.*.*'));
  // A large channel's read is already 1000 records: 4 in flight, not 40.
  out.readLargeByConsumer = await rate(seconds, () => readByConsumer(nc, 'app.env.large.*.*'), 4);
  out.readLargeByDirectGets = await rate(seconds, () => readByDirectGets(nc, 'app.env.large.*.*'), 4);
  const follower = await followChannel(nc, 'app.env.small.*.*');
  out.putThroughFollower = await rate(seconds, async (i) => {
    const key = `app.env.small.n.w${i % 5000}`;
    const echoed = follower.echo(key);
    await kv.put(key, value);
    await echoed;
  });
  await follower.close();
  // Every followed channel is a consumer on the stream, and nats-server 2.9 checks each new
  // message against every consumer's filter: what that costs a write.
  const idle = [];
  for (let i = 0; i < IDLE_FEEDS; i += 50) {
    idle.push(...(await Promise.all(Array.from({ length: 50 }, (_, k) => followChannel(nc, `app.env.idle${i + k}.*.*`)))));
  }
  out[`kvPutWith${IDLE_FEEDS}Feeds`] = await rate(seconds, (i) => kv.put(`app.env.put.n.${i % 5000}`, value));
  await Promise.all(idle.map((feed) => feed.close()));
  await kv.destroy();
  await nc.close();
  return out;
}

/** An idle consumer on `bucket` (a followed channel with no writes), for the per-write cost of feeds. */
async function idleFeed(nc, bucket, filter) {
  const stream = `KV_${bucket}`;
  const inbox = createInbox();
  const sub = nc.subscribe(inbox);
  const config = { deliver_subject: inbox, deliver_policy: 'new', filter_subject: `$KV.${bucket}.${filter}`, ack_policy: 'none', mem_storage: true, num_replicas: 1 };
  const reply = (await nc.request(`$JS.API.CONSUMER.CREATE.${stream}`, JSON.stringify({ stream_name: stream, config }), TIMEOUT)).json();
  return async () => {
    sub.unsubscribe();
    await nc.request(`$JS.API.CONSUMER.DELETE.${stream}.${reply.name}`, undefined, TIMEOUT);
  };
}

/**
 * PRESENCE_SHARDS on one nats-server (docs/presence.md, "Capacity"): KV puts spread over `n`
 * buckets (streams, each with its own leader), against one; with IN_FLIGHT requests in all and
 * with IN_FLIGHT per stream (as n times the gateways would keep); and with IDLE_FEEDS idle feeds
 * in all, spread over the n streams as channels are (each write is checked only against the
 * feeds of its own stream).
 */
export async function measureShardedPuts(natsUrl, counts = [1, 3], seconds = 2) {
  const nc = await connect({ servers: natsUrl });
  const kvm = new Kvm(jetstream(nc, TIMEOUT));
  const value = new TextEncoder().encode(JSON.stringify({ channel: 'c', address: 'a/b/n-c', identity: 'a', device: 'b', node: 'n', instance: 'i', joinedAt: 0 }));
  const out = {};
  for (const n of counts) {
    const names = Array.from({ length: n }, (_, i) => `bench_shards_${n}_${i}`);
    const kvs = await Promise.all(names.map((name) => kvm.create(name, { history: 1, storage: 'memory' })));
    const put = (i) => kvs[i % n].put(`app.env.c${i % 500}.n.${i % 5000}`, value);
    out[`streams${n}`] = await rate(seconds, put);
    if (n > 1) out[`streams${n}InFlight${IN_FLIGHT * n}`] = await rate(seconds, put, IN_FLIGHT * n);
    const closers = [];
    for (let i = 0; i < IDLE_FEEDS; i += 50) {
      closers.push(...(await Promise.all(Array.from({ length: 50 }, (_, k) => idleFeed(nc, names[(i + k) % n], `app.env.idle${i + k}.*.*`)))));
    }
    out[`streams${n}With${IDLE_FEEDS}Feeds`] = await rate(seconds, put);
    await Promise.all(closers.map((close) => close()));
    await Promise.all(kvs.map((kv) => kv.destroy()));
  }
  await nc.close();
  return out;
}
