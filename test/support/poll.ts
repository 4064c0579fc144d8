/** Polls until `check` returns true; for conditions that have no event to await. */
export async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 15_000, everyMs = 50): Promise<void> {
  await passes(async () => {
    if (!(await check())) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }, timeoutMs, everyMs);
}

/** Retries `check` until it stops throwing and returns its value; past the deadline, its last error. */
export async function passes<T>(check: () => Promise<T> | T, timeoutMs = 15_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  }
}
