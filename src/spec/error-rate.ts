// THE error rate: one definition for the rules, the canary judgment, the watch, the verification
// after a rollback, the incident's impact and what the CLI shows live. Pure, no imports: the CLI
// loads it without the analysis.

/** The counters the error rate is defined over: one second, or a sum over a window. */
export interface RequestCounts {
  readonly requests: number;
  readonly errors5xx: number;
  readonly connectFailures: number;
}

/**
 * Failed requests: 5xx responses plus connections to the revision that failed, at most the
 * requests. A failed connection counts against the revision it failed on even when the proxy
 * retried the request elsewhere (that revision did fail it). A request whose connection failed and
 * that was then answered 502 counts twice; the cap keeps the rate at most 1.
 */
export function failedRequests(c: RequestCounts): number {
  return Math.min(c.requests, c.errors5xx + c.connectFailures);
}

/**
 * THE error rate, as the runbook's checks mean it ("error rate > 5%"): failed requests over all
 * the requests of the window, 0..1; null without requests. The rules, the service-down check, the
 * before/after reference, the verification after a rollback and the incident's impact use this
 * one (the canary judgment's sequential test counts failedRequests second by second).
 */
export function errorRate(c: RequestCounts): number | null {
  if (c.requests <= 0) return null;
  return failedRequests(c) / c.requests;
}
