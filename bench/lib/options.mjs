import { parseArgs } from 'node:util';

export const SYSTEMS = ['ours', 'ours-sio', 'ours-restricted', 'ours-history', 'socketio', 'uws'];
/** What a plain run compares; `ours-restricted` and `ours-history` are asked for by name (docs: bench/README.md). */
const DEFAULT_SYSTEMS = ['ours', 'ours-sio', 'socketio', 'uws'];

const FLAGS = {
  subscribers: { env: 'BENCH_SUBSCRIBERS', default: '200', help: 'subscribers on the one channel, per system' },
  rates: { env: 'BENCH_RATES', default: '125,250,500,1000,2000,4000', help: 'offered publish rates, messages/s, comma-separated' },
  'step-seconds': { env: 'BENCH_STEP_SECONDS', default: '5', help: 'how long each rate is offered' },
  'drain-seconds': { env: 'BENCH_DRAIN_SECONDS', default: '4', help: 'how long to wait for stragglers after a step' },
  'warmup-seconds': { env: 'BENCH_WARMUP_SECONDS', default: '1', help: 'unmeasured warm-up per system (at the lowest rate)' },
  'p99-limit-ms': { env: 'BENCH_P99_LIMIT_MS', default: '250', help: "p99 up to which a step counts as 'kept up' (everything delivered, in time)" },
  batch: { env: 'BENCH_BATCH', default: '10', help: 'signals per HTTP request (1 = single-signal bodies)' },
  connections: { env: 'BENCH_CONNECTIONS', default: '8', help: 'keep-alive HTTP connections of the publisher' },
  pad: { env: 'BENCH_PAD', default: '64', help: 'characters of padding in each message' },
  clients: { env: 'BENCH_CLIENTS', default: 'library', help: "subscriber clients: 'library' (ws, socket.io-client) or 'lean' (minimal WebSocket client, same protocols)" },
  retries: { env: 'BENCH_RETRIES', default: '1', help: 'extra tries of a step during which other programs used the CPU' },
  systems: { env: 'BENCH_SYSTEMS', default: DEFAULT_SYSTEMS.join(','), help: `which systems to run, of ${SYSTEMS.join(', ')}` },
  'max-seconds': { env: 'BENCH_MAX_SECONDS', default: '270', help: 'start no step that could end after this many seconds from the start' },
  json: { env: 'BENCH_JSON', default: '', help: 'also write all results as JSON to this file' },
  profile: { env: 'BENCH_PROFILE', default: '', help: 'directory for V8 tick profiles of gateway and emit-api (read with node --prof-process)' },
};

export function usage() {
  const lines = Object.entries(FLAGS).map(([name, f]) => `  --${name.padEnd(15)} ${f.env.padEnd(21)} ${f.help} (default ${f.default || 'none'})`);
  return `usage: node bench/fanout.mjs [flags]   (each flag can also be set by its environment variable)\n${lines.join('\n')}`;
}

/** Flags win over environment variables, which win over defaults. Bad values are refused by name. */
export function readOptions(argv = process.argv.slice(2), env = process.env) {
  const { values } = parseArgs({
    args: argv,
    options: { ...Object.fromEntries(Object.keys(FLAGS).map((name) => [name, { type: 'string' }])), help: { type: 'boolean' } },
    strict: true,
  });
  if (values.help) return undefined;
  const raw = (name) => values[name] ?? env[FLAGS[name].env] ?? FLAGS[name].default;
  const systems = raw('systems').split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = systems.filter((s) => !SYSTEMS.includes(s));
  if (unknown.length > 0 || systems.length === 0) throw new Error(`--systems: use some of ${SYSTEMS.join(',')} (got '${raw('systems')}')`);
  const clients = raw('clients');
  if (clients !== 'library' && clients !== 'lean') throw new Error(`--clients: use library or lean (got '${clients}')`);
  return {
    clients,
    subscribers: int('subscribers', raw('subscribers'), 1, 20000),
    rates: raw('rates').split(',').map((r) => int('rates', r.trim(), 1, 10_000_000)),
    stepSeconds: num('step-seconds', raw('step-seconds'), 0.5, 600),
    drainSeconds: num('drain-seconds', raw('drain-seconds'), 0.1, 600),
    warmupSeconds: num('warmup-seconds', raw('warmup-seconds'), 0, 600),
    p99LimitMicros: num('p99-limit-ms', raw('p99-limit-ms'), 1, 60000) * 1000,
    batch: int('batch', raw('batch'), 1, 100),
    connections: int('connections', raw('connections'), 1, 1024),
    pad: int('pad', raw('pad'), 0, 60000),
    retries: int('retries', raw('retries'), 0, 10),
    systems,
    maxSeconds: num('max-seconds', raw('max-seconds'), 1, 86400),
    json: raw('json') || undefined,
    profile: raw('profile') || undefined,
  };
}

function num(name, text, min, max) {
  const value = Number(text);
  if (!Number.isFinite(value) || value < min || value > max) throw new Error(`--${name}: must be a number from ${min} to ${max} (got '${text}')`);
  return value;
}

function int(name, text, min, max) {
  const value = num(name, text, min, max);
  if (!Number.isInteger(value)) throw new Error(`--${name}: must be a whole number (got '${text}')`);
  return value;
}
