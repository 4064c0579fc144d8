/** An emit-api answer that is not a success: its status and the documented error body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Calls emit-api (same origin: it serves the console) with the secret key as a Bearer header.
 * The key lives in this object and in sessionStorage, never in a URL.
 */
export class EmitApi {
  constructor(private readonly secretKey: string) {}

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.secretKey}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(path, { method, headers, body: body === undefined ? null : JSON.stringify(body), cache: 'no-store' });
    const answer = (await res.json().catch(() => undefined)) as { code?: string; message?: string; field?: string } | undefined;
    if (!res.ok) {
      const field = answer?.field === undefined ? '' : ` (${answer.field})`;
      throw new ApiError(res.status, answer?.code ?? 'unknown', `${res.status} ${answer?.code ?? ''}: ${answer?.message ?? res.statusText}${field}`);
    }
    return answer as T;
  }
}
