// What the analysis reads about an app's traffic, whoever measures it: the built-in proxy's
// counters (builtin-metrics-source.ts) or, later, Prometheus. The arithmetic over these samples
// (error rate, request rate, latency quantiles) lives in one place, src/features/analysis/series.ts
// and histogram.ts; a source only reports counts.

/**
 * A latency histogram that carries its own bucket bounds, so that a source with other buckets
 * (Prometheus `le` buckets) fits: quantiles are computed with the bounds of the sample.
 */
export interface LatencyHistogram {
  /** Upper bounds of the buckets in ms, ascending; the first bucket starts at 0. */
  readonly boundsMs: readonly number[];
  /** Requests per bucket (not cumulative): boundsMs.length + 1 entries, the last above the last bound. */
  readonly counts: readonly number[];
}

/** What one revision did in one second. */
export interface RevisionSample {
  readonly revision: number;
  /** Requests answered (by the revision, or for it by the data plane: its 502/504 count too). */
  readonly requests: number;
  /** Responses with status 500-599. */
  readonly errors5xx: number;
  /**
   * Connections to the revision that failed before any byte was sent. Failed requests are 5xx plus
   * these (see failedRequests in src/features/analysis/series.ts); the request itself may have been
   * retried on another revision and counted there.
   */
  readonly connectFailures: number;
  readonly latency: LatencyHistogram;
}

/** One second of an app's traffic. */
export interface MetricsSample {
  /** Unix time in whole seconds at the start of the second. */
  readonly second: number;
  /** A revision absent from a second had no traffic in it. */
  readonly revisions: readonly RevisionSample[];
}

/** A read that worked. */
export interface MetricsReadOk {
  readonly phase: 'Successful';
  readonly samples: readonly MetricsSample[];
}

/** A read that failed: nothing is known of these seconds (not "no traffic"). */
export interface MetricsReadError {
  readonly phase: 'Error';
  /** Why, for a log line: the source's own message. */
  readonly error: string;
  readonly samples: readonly [];
}

export type MetricsRead = MetricsReadOk | MetricsReadError;

/**
 * An app's per-second, per-revision counters.
 *
 * Contract:
 * - `read` never rejects: a source that cannot answer (unreachable, timed out, bad data) resolves
 *   to phase Error, so a failed read is data for the reconcile loop, never an exception through it.
 * - It returns the complete seconds from `sinceSecond` (inclusive) to the last complete one,
 *   oldest first, each second at most once. A second still being counted is not returned.
 * - It is idempotent: reading a complete second again gives the same counts (callers re-read
 *   seconds and replace what they held). Counts are per second, never cumulative.
 * - A source keeps a bounded history (the built-in proxy about two minutes); seconds older than
 *   that are simply absent.
 * - Cheap enough to be called once per analysis interval (1 s by default) per watched app.
 */
export interface MetricsSource {
  read(app: string, sinceSecond: number): Promise<MetricsRead>;
}

/** The samples of a read; none when it failed (callers that only sum counters use this). */
export function samplesOf(read: MetricsRead): readonly MetricsSample[] {
  return read.phase === 'Successful' ? read.samples : [];
}

/** A failed read, from whatever was thrown. */
export function metricsReadError(err: unknown): MetricsReadError {
  return { phase: 'Error', error: err instanceof Error ? err.message : String(err), samples: [] };
}
