export interface CheckResult {
  ready: boolean;
  /** Why not, or what was checked; shown in /readyz. */
  detail?: string;
}

/** A readiness condition: e.g. NATS connected, a KV bucket reachable. */
export type ReadinessCheck = () => CheckResult | Promise<CheckResult>;

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, CheckResult>;
}

const DEFAULT_CHECK_TIMEOUT_MS = 2000;

/**
 * Whether this process should receive traffic. Not ready while starting, while any
 * registered check fails, and from the moment shutdown begins. Features register their own
 * checks (the presence store registers one for its bucket), so /readyz reflects all of them.
 */
export class Readiness {
  private readonly checks = new Map<string, ReadinessCheck>();
  private started = false;
  private draining = false;

  constructor(private readonly checkTimeoutMs = DEFAULT_CHECK_TIMEOUT_MS) {}

  register(name: string, check: ReadinessCheck): void {
    if (this.checks.has(name)) throw new Error(`readiness check '${name}' is registered twice`);
    this.checks.set(name, check);
  }

  /** Called once the service listens for traffic. */
  markStarted(): void {
    this.started = true;
  }

  /** Called when shutdown begins; there is no way back. */
  markDraining(): void {
    this.draining = true;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  async evaluate(): Promise<ReadinessReport> {
    const checks: Record<string, CheckResult> = {
      lifecycle: this.draining
        ? { ready: false, detail: 'shutting down' }
        : this.started
          ? { ready: true }
          : { ready: false, detail: 'starting' },
    };
    const results = await Promise.all([...this.checks].map(async ([name, check]) => [name, await this.run(check)] as const));
    for (const [name, result] of results) checks[name] = result;
    return { ready: Object.values(checks).every((c) => c.ready), checks };
  }

  private async run(check: ReadinessCheck): Promise<CheckResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<CheckResult>((resolve) => {
      timer = setTimeout(() => resolve({ ready: false, detail: `no answer within ${this.checkTimeoutMs} ms` }), this.checkTimeoutMs);
    });
    try {
      return await Promise.race([Promise.resolve().then(check), timeout]);
    } catch (error) {
      return { ready: false, detail: error instanceof Error ? error.message : String(error) };
    } finally {
      clearTimeout(timer);
    }
  }
}
