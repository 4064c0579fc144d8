export interface NatsServer {
  /** Client URL, e.g. nats://127.0.0.1:41234. */
  url: string;
  port: number;
  /** HTTP monitoring port; 0 when the server is external (NATS_URL) and its monitor is unknown. */
  monitorPort: number;
  /** JetStream store directory on this machine; empty when the store is not local (NATS_URL, Docker). */
  storeDir: string;
  /** undefined while the process is not running, or when the harness does not own a local process. */
  readonly pid: number | undefined;
  /** SIGTERM, wait for exit, remove the temp dir. */
  stop(): Promise<void>;
  /** Stop the process (default SIGKILL) but keep the store dir, so restart() brings the same JetStream data back. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start again on the same ports and store dir; a running server is stopped gracefully first. */
  restart(): Promise<void>;
}

export interface StartNatsOptions {
  /** Default true. */
  jetstream?: boolean;
  /** Extra nats-server command-line arguments. */
  args?: string[];
  /**
   * A configuration file for the server (`-c`), e.g. an authorization config; the harness's own
   * flags (address, ports, JetStream store) override what it says about those. Needs a local
   * nats-server binary: with NATS_URL or Docker the start fails rather than run without it.
   */
  configFile?: string;
  /** Extra environment of the server process, for variables the config file refers to (`$NAME`). */
  env?: Record<string, string>;
}

export interface NatsCluster {
  servers: NatsServer[];
  /** Client URLs, one per node. */
  urls: string[];
  /** The client URLs comma-joined, the form NATS_URL accepts. */
  url: string;
  stop(): Promise<void>;
}
