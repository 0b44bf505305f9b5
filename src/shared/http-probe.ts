// One HTTP probe: a request with a deadline and an expected status. Never throws: the outcome is data.

export interface ProbeResult {
  readonly ok: boolean;
  readonly detail: string;
  readonly ms: number;
}

export async function probeHttp(
  url: string,
  options: {
    readonly method?: string;
    readonly expectStatus?: number;
    readonly timeoutMs: number;
    readonly headers?: Record<string, string>;
  },
): Promise<ProbeResult> {
  const started = performance.now();
  const expect = options.expectStatus ?? 200;
  try {
    const res = await fetch(url, {
      method: options.method ?? 'GET',
      headers: options.headers,
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    await res.arrayBuffer();
    const ms = performance.now() - started;
    return res.status === expect
      ? { ok: true, detail: `${res.status}`, ms }
      : { ok: false, detail: `${url} answered ${res.status}, expected ${expect}`, ms };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why =
      e.name === 'TimeoutError'
        ? `no answer within ${options.timeoutMs}ms`
        : (e.cause?.code ?? e.cause?.message ?? e.message);
    return { ok: false, detail: `${url}: ${why}`, ms: performance.now() - started };
  }
}
