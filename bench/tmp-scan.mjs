import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { jetstream } from '@nats-io/jetstream';
import { startNats, stopAll } from '@signal/harness';
import { scanStoredFrom } from '../packages/presence/dist/store/read-latest.js';

const nats = await startNats();
const nc = await connect({ servers: nats.url });
const kv = await new Kvm(jetstream(nc)).create('b', { history: 1, storage: 'memory' });
const N = Number(process.env.N ?? 20000);
for (let i = 0; i < N; i += 256) await Promise.all(Array.from({ length: 256 }, (_, j) => kv.put(`live.${i + j}`, 'x')));
for (const page of [512, 4096]) {
  const t0 = performance.now();
  let n = 0, pages = 0;
  for (let from = 1; ; ) {
    let read = 0, last = 0;
    await scanStoredFrom(nc, 'b', from, page, 5000, (r) => { read++; last = r.revision; });
    n += read; pages++;
    if (read < page) break;
    from = last + 1;
  }
  const ms = performance.now() - t0;
  console.log(`page ${page}: ${n} msgs in ${pages} pages, ${Math.round(ms)} ms, ${(ms / pages).toFixed(1)} ms/page, ${Math.round(n / (ms / 1000))} msgs/s`);
}
await nc.close();
await stopAll();
