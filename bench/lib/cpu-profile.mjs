// Loaded into a service with `NODE_OPTIONS=--import=<this file>` by a benchmark that wants CPU
// profiles of it (node refuses --cpu-prof in NODE_OPTIONS). SIGUSR2 starts the V8 profiler
// (sampling every CPU_PROFILE_INTERVAL_US, default 500 µs); the next SIGUSR2 stops it and writes
// `<CPU_PROFILE_DIR>/<pid>-<n>.cpuprofile` (open it in Chrome DevTools, or summarise it with
// bench/lib/profile-top.mjs). Benchmark use only.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.CPU_PROFILE_DIR ?? '.';
const session = new Session();
session.connect();
let running = false;
let n = 0;
process.on('SIGUSR2', () => {
  if (!running) {
    running = true;
    session.post('Profiler.enable', () => session.post('Profiler.setSamplingInterval', { interval: Number(process.env.CPU_PROFILE_INTERVAL_US ?? 500) }, () => session.post('Profiler.start')));
    return;
  }
  running = false;
  session.post('Profiler.stop', (error, result) => {
    if (!error) writeFileSync(join(dir, `${process.pid}-${++n}.cpuprofile`), JSON.stringify(result.profile));
  });
});
