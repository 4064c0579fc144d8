import { fmtInt, fmtMs, fmtPct, fmtRatio, table } from './format.mjs';

const LABEL = {
  ours: 'ours (emit-api → NATS → gateway)',
  'ours-sio': 'ours with socket.io-client subscribers (Stelace surface)',
  'ours-restricted': 'ours in a restricted environment (tokens with a capability)',
  'ours-history': 'ours on a channel that keeps history (stored in JetStream, then delivered)',
  socketio: 'Socket.IO 4.8',
  uws: 'bare uWebSockets.js',
};

export function describeStep(r) {
  const notes = [
    r.saturated ? 'OVER CAPACITY' : '',
    r.reset ? 'backlog dropped' : '',
    r.startedIdle ? '' : 'machine was not idle at start',
    r.otherLoadCores > 0.3 ? `other programs used ${r.otherLoadCores.toFixed(2)} cores` : '',
    r.failedRequests ? `${r.failedRequests} failed requests (${r.firstError})` : '',
    r.skipped ? `publisher could not offer ${fmtInt(r.skipped)}` : '',
  ].filter(Boolean);
  return `${r.system.padEnd(8)} offered ${fmtInt(r.rate).padStart(6)}/s → delivered ${fmtInt(r.deliveredPerSecond).padStart(9)}/s ` +
    `of ${fmtInt(r.sentPerSecond * r.subscribers).padStart(9)}/s (${fmtPct(r.received / Math.max(1, r.expected))}), ` +
    `p50 ${fmtMs(r.p50)} ms, p99 ${fmtMs(r.p99)} ms${notes.length ? ` [${notes.join('; ')}]` : ''}`;
}

/** Tables per system, ratios per rate, and the issue's target checked against this run. */
export function renderResults({ options, results, serverProcesses, skippedAfterSaturation, stoppedEarly }) {
  const out = [''];
  for (const system of options.systems) {
    const rows = results.filter((r) => r.system === system).map((r) => [
      fmtInt(r.rate),
      fmtInt(r.sentPerSecond),
      fmtInt(r.sentPerSecond * r.subscribers),
      fmtInt(r.deliveredPerSecond) + (r.saturated ? ' !' : r.keptUp ? '' : ' ~'),
      fmtPct(r.received / Math.max(1, r.expected)),
      fmtMs(r.p50),
      fmtMs(r.p99),
      fmtMs(r.max),
      serverProcesses[system].map((name) => fmtPct(r.cpu[name])).join(' + '),
      fmtPct(r.cpu[`${system}-subs`]),
      fmtPct(r.cpu.publisher),
      r.serverCpuMicrosPerDelivery.toFixed(2),
      r.otherLoadCores.toFixed(2),
    ]);
    out.push(`### ${LABEL[system]}`, '');
    out.push(table(
      ['offered msg/s', 'sent msg/s', 'expected deliv/s', 'delivered/s', 'delivered', 'p50 ms', 'p99 ms', 'max ms',
        `server CPU (${serverProcesses[system].join(' + ')})`, 'subs CPU', 'pub CPU', 'server CPU µs/deliv', 'other load (cores)'],
      rows,
    ), '');
    if (skippedAfterSaturation[system]) out.push(`(higher rates not run: over capacity at ${fmtInt(skippedAfterSaturation[system])} msgs/s)`, '');
  }
  out.push(`\`~\` = not kept up: p99 over ${fmtMs(options.p99LimitMicros)} ms. \`!\` = over capacity: messages missing after the drain time, or p99 over 1 s; ` +
    'delivered/s is then the throughput it managed, and higher rates are not run.', '');

  // Ratios are taken against our native path, or our Socket.IO path when only that one ran.
  const base = ['ours', 'ours-sio'].find((s) => options.systems.includes(s));
  const others = options.systems.filter((s) => s !== base);
  if (base && others.length > 0) {
    const find = (system, rate) => results.find((r) => r.system === system && r.rate === rate);
    const rows = options.rates.filter((rate) => find(base, rate)).map((rate) => {
      const ours = find(base, rate);
      return [fmtInt(rate), ...others.flatMap((system) => {
        const other = find(system, rate);
        return [fmtRatio(ours.deliveredPerSecond, other?.deliveredPerSecond), fmtRatio(ours.p99, other?.p99)];
      })];
    });
    out.push(`### ${base} / other, per offered rate (delivered: higher is better for us; p99: lower is better for us)`, '');
    out.push(table(['offered msg/s', ...others.flatMap((s) => [`delivered ${base}/${s}`, `p99 ${base}/${s}`])], rows), '');

    const capacity = Object.fromEntries(options.systems.map((system) => [system, capacityOf(results.filter((r) => r.system === system))]));
    const limit = fmtMs(options.p99LimitMicros);
    out.push(`### capacity (kept up = everything delivered with p99 ≤ ${limit} ms)`, '');
    out.push(table(
      ['system', 'highest offered rate kept up', 'delivered/s there', 'p99 ms there', 'peak delivered/s (any step)', 'server CPU µs/deliv (median)'],
      options.systems.map((s) => {
        const { kept, peak, cpuPerDelivery } = capacity[s];
        return [s, kept ? fmtInt(kept.rate) : 'none', fmtInt(kept?.deliveredPerSecond), fmtMs(kept?.p99), fmtInt(peak), cpuPerDelivery.toFixed(2)];
      }),
    ), '');
    const sustained = (s) => capacity[s].kept?.deliveredPerSecond ?? 0;
    out.push(`sustained delivered/s, ${base} / other: ${others.map((s) => `${s} ${fmtRatio(sustained(base), sustained(s))}`).join(', ')}; ` +
      `peak: ${others.map((s) => `${s} ${fmtRatio(capacity[base].peak, capacity[s].peak)}`).join(', ')}; ` +
      `server CPU per delivery, other / ${base}: ${others.map((s) => `${s} ${fmtRatio(capacity[s].cpuPerDelivery, capacity[base].cpuPerDelivery)}`).join(', ')}`);
    if (options.systems.includes('socketio')) {
      if (options.systems.includes('ours')) out.push(verdict(options, capacity, find, 'ours', 'issue 2'));
      if (options.systems.includes('ours-sio')) out.push(verdict(options, capacity, find, 'ours-sio', 'issue 3, Socket.IO path'));
    }
  }
  if (stoppedEarly) out.push(`stopped early: --max-seconds ${options.maxSeconds} reached`);
  return out.join('\n');
}

/** The issue's first target, checked against this run; "not measured" when a side has no data. */
function verdict(options, capacity, find, system, label) {
  const ours = capacity[system].kept?.deliveredPerSecond;
  const theirs = capacity.socketio.kept?.deliveredPerSecond;
  const rate = ours && theirs ? `${ratioText(ours / theirs)}: ${ours / theirs >= 3 ? 'MET' : 'NOT MET'}` : 'not measured (a system kept up at no rate)';
  const common = options.rates.map((r) => [find(system, r), find('socketio', r)]).filter(([a, b]) => a && b && b.keptUp);
  const worse = common.filter(([a, b]) => !(a.p99 <= b.p99)).map(([a]) => fmtInt(a.rate));
  const p99 = common.length === 0 ? 'not measured (Socket.IO kept up at no rate)'
    : worse.length === 0 ? `MET at ${common.map(([a]) => fmtInt(a.rate)).join(', ')} msgs/s` : `NOT MET at ${worse.join(', ')} msgs/s`;
  return `target (${label}): ${system} sustained delivered/s ≥ 3× Socket.IO's — ${rate}; p99 no worse where Socket.IO kept up — ${p99}`;
}

function ratioText(x) {
  return `${x.toFixed(2)}×`;
}

/**
 * `kept`: the step with the highest delivered rate that kept up. `cpuPerDelivery`: the
 * median server CPU per delivery over the steps that kept up (or all steps if none did):
 * the least noise-sensitive number here, since other programs slow a server but barely
 * change how much CPU it needs per message.
 */
function capacityOf(steps) {
  const kept = steps.filter((r) => r.keptUp).sort((a, b) => b.deliveredPerSecond - a.deliveredPerSecond)[0];
  const basis = steps.some((r) => r.keptUp) ? steps.filter((r) => r.keptUp) : steps;
  const perDelivery = basis.map((r) => r.serverCpuMicrosPerDelivery).filter(Number.isFinite).sort((a, b) => a - b);
  const cpuPerDelivery = perDelivery.length ? perDelivery[Math.floor((perDelivery.length - 1) / 2)] : NaN;
  return { peak: Math.max(0, ...steps.map((r) => r.deliveredPerSecond)), kept, cpuPerDelivery };
}
