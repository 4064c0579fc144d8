import type { ServiceProcess } from '@signal/harness';

/** Base URL of a service's admin port, from its `ready` line. */
export function adminUrl(service: ServiceProcess): string {
  return `http://127.0.0.1:${String(service.ready.adminPort)}`;
}

export async function readyz(service: ServiceProcess): Promise<{ status: number; body: { status: string; checks: Record<string, { ready: boolean; detail?: string }> } }> {
  const res = await fetch(`${adminUrl(service)}/readyz`);
  return { status: res.status, body: (await res.json()) as never };
}

/** Samples of a Prometheus text page, keyed `name` or `name{label="value",...}` as printed. */
export async function scrape(service: ServiceProcess): Promise<Map<string, number>> {
  const res = await fetch(`${adminUrl(service)}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

/** A sample's value, 0 when absent (a labelled counter prints nothing until first counted). */
export function sample(samples: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  const entries = Object.entries(labels);
  if (entries.length === 0) return samples.get(name) ?? 0;
  for (const [key, value] of samples) {
    if (!key.startsWith(`${name}{`)) continue;
    if (entries.every(([k, v]) => key.includes(`${k}="${v}"`))) return value;
  }
  return 0;
}

export { eventually } from './poll.js';
