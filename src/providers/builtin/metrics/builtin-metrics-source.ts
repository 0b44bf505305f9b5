// The built-in MetricsSource: the proxy's one-second counters, read through the agent. The
// proxy's histogram bounds stay the proxy's (LATENCY_BOUNDS_MS); each sample carries them.

import {
  type MetricsRead,
  type MetricsSample,
  type MetricsSource,
  metricsReadError,
} from '../../metrics-source.ts';
import { LATENCY_BOUNDS_MS, type MetricsBucket } from '../proxy/types.ts';

/**
 * The built-in proxy's latency bounds, ms. Also the bounds of analysis series stored before
 * samples carried their bounds: only the built-in proxy wrote those.
 */
export const BUILTIN_LATENCY_BOUNDS_MS: readonly number[] = LATENCY_BOUNDS_MS;

/** The data plane's buckets of an app from a second on (the agent client's `metrics`). */
export type ReadBuckets = (app: string, sinceSecond: number) => Promise<MetricsBucket[]>;

/** A proxy bucket as a sample; the histogram's counts are shared, not copied. */
export function sampleFromBucket(bucket: MetricsBucket): MetricsSample {
  return {
    second: bucket.second,
    revisions: bucket.revisions.map((c) => ({
      revision: c.revision,
      requests: c.requests,
      errors5xx: c.errors5xx,
      connectFailures: c.connectFailures,
      latency: { boundsMs: BUILTIN_LATENCY_BOUNDS_MS, counts: c.latency },
    })),
  };
}

export class BuiltinMetricsSource implements MetricsSource {
  readonly #buckets: ReadBuckets;

  constructor(buckets: ReadBuckets) {
    this.#buckets = buckets;
  }

  async read(app: string, sinceSecond: number): Promise<MetricsRead> {
    try {
      const buckets = await this.#buckets(app, sinceSecond);
      return { phase: 'Successful', samples: buckets.map(sampleFromBucket) };
    } catch (err) {
      return metricsReadError(err);
    }
  }
}
