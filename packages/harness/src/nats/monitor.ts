/** Reads the nats-server HTTP monitoring endpoints on 127.0.0.1. */

const REQUEST_TIMEOUT_MS = 1_000;

export async function monitorJson(monitorPort: number, path: string): Promise<Record<string, unknown>> {
  const response = await fetch(`http://127.0.0.1:${monitorPort}${path}`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  if (!response.ok) throw new Error(`GET ${path} answered ${response.status}`);
  return (await response.json()) as Record<string, unknown>;
}

/**
 * Healthy, and the monitor really belongs to the server on `port`: a monitor port
 * lost to another process must not make a dead server look ready.
 */
export async function isServing(monitorPort: number, port: number): Promise<boolean> {
  const varz = await monitorJson(monitorPort, '/varz');
  if (varz['port'] !== port) return false;
  const health = await monitorJson(monitorPort, '/healthz');
  return health['status'] === 'ok';
}

export async function routeCount(monitorPort: number): Promise<number> {
  const routez = await monitorJson(monitorPort, '/routez');
  return typeof routez['num_routes'] === 'number' ? routez['num_routes'] : -1;
}
