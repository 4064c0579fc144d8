export { HarnessError, isHarnessError, type HarnessErrorCode } from './errors/harness-error.js';
export { freePort } from './net/free-port.js';
export { startNats } from './nats/start-nats.js';
export { startNatsCluster } from './nats/cluster.js';
export type { NatsServer, NatsCluster, StartNatsOptions } from './nats/nats-server.js';
export { startService, type StartServiceOptions, type ServiceProcess } from './service/start-service.js';
export type { ExitStatus } from './process/tracked-child.js';
export { stopAll } from './cleanup/resources.js';
export { writeTempFile } from './cleanup/temp-dirs.js';
