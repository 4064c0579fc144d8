/**
 * The environment the benchmarks start our services with: their NATS and apps file, ports
 * chosen by the system, and the per-connection and per-address limits (docs/limits.md) lifted,
 * because every benchmark client comes from 127.0.0.1 and loops as fast as answers come: the
 * benchmarks measure the work, not refusals. `extra` adds or overrides variables.
 */
export function benchServiceEnv(natsUrl, appsFile, extra = {}) {
  return {
    NATS_URL: natsUrl,
    APPS_FILE: appsFile,
    PORT: '0',
    ADMIN_PORT: '0',
    MAX_CONNECTIONS_PER_IP: '1000000',
    JOIN_RATE: '1000000',
    JOIN_BURST: '1000000',
    PUBLISH_RATE: '1000000',
    PUBLISH_BURST: '1000000',
    FRAME_RATE: '1000000',
    FRAME_BURST: '1000000',
    ...extra,
  };
}
