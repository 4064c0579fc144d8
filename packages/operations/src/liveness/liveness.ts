export interface LivenessResult {
  alive: boolean;
  /** What was checked, or why the process is stuck; shown in /healthz. */
  detail?: string;
}

/** A liveness condition: `alive: false` means the process is stuck and only a restart helps. */
export type LivenessCheck = () => LivenessResult;

export interface LivenessReport {
  alive: boolean;
  checks: Record<string, LivenessResult>;
}

/**
 * Whether this process still works (`/healthz`). Unlike readiness, a failed check here makes
 * the orchestrator restart the process, so a check must fail only for what waiting cannot fix
 * (the NATS input stalled while the client says it is connected), never for an outage of
 * something outside the process (NATS down: readiness covers that). Checks are synchronous
 * and cheap: liveness must answer even when everything else is slow.
 */
export class Liveness {
  private readonly checks = new Map<string, LivenessCheck>();

  register(name: string, check: LivenessCheck): void {
    if (this.checks.has(name)) throw new Error(`liveness check '${name}' is registered twice`);
    this.checks.set(name, check);
  }

  evaluate(): LivenessReport {
    const checks: Record<string, LivenessResult> = {};
    for (const [name, check] of this.checks) {
      try {
        checks[name] = check();
      } catch (error) {
        checks[name] = { alive: false, detail: error instanceof Error ? error.message : String(error) };
      }
    }
    return { alive: Object.values(checks).every((c) => c.alive), checks };
  }
}
