// The impact of a bad revision, from the data plane's one-second buckets and the weights the
// controller set over time. Pure: the controller gathers the inputs, this only counts.

import type { MetricsBucket, RevisionCounters } from '../../providers/builtin/proxy/types.ts';
import type { IncidentImpact } from './incident.ts';

/** The weights in force from `at` (epoch ms) until the next point; like RouteTable backends. */
export interface WeightPoint {
  readonly at: number;
  readonly weights: readonly { readonly revision: number; readonly weight: number }[];
}

export interface ComputeImpactOptions {
  /** End of exposure if the last weight point still gives the bad revision traffic (e.g. now). */
  readonly until?: number;
  readonly stickyUsersExposed?: number | null;
}

function shareOf(point: WeightPoint, revision: number): number {
  let total = 0;
  let bad = 0;
  for (const w of point.weights) {
    const weight = Math.max(0, w.weight);
    total += weight;
    if (w.revision === revision) bad += weight;
  }
  return total > 0 ? bad / total : 0;
}

const attempts = (c: RevisionCounters) => c.requests + c.connectFailures;

/**
 * Requests the bad revision served and failed (5xx + connection failures), its error rate next to
 * the stable revision's, the largest share of traffic it had (from `weights`; from the buckets when
 * no weights are given) and how long it had traffic. Sticky users pinned to the bad revision keep
 * reaching it after its weight drops to 0, so bucket traffic after the last weight period extends
 * the exposure.
 */
export function computeImpact(
  buckets: readonly MetricsBucket[],
  badRevision: number,
  stableRevision: number | null,
  weights: readonly WeightPoint[],
  options: ComputeImpactOptions = {},
): IncidentImpact {
  let served = 0;
  let errors5xx = 0;
  let connectFailures = 0;
  let stableServed = 0;
  let stableFailed = 0;
  let allAttempts = 0;
  let firstBad: number | null = null;
  let lastBadEnd: number | null = null;
  for (const bucket of buckets) {
    for (const c of bucket.revisions) {
      allAttempts += attempts(c);
      if (c.revision === badRevision) {
        served += attempts(c);
        errors5xx += c.errors5xx;
        connectFailures += c.connectFailures;
        if (attempts(c) > 0) {
          const start = bucket.second * 1000;
          firstBad = firstBad === null ? start : Math.min(firstBad, start);
          lastBadEnd = lastBadEnd === null ? start + 1000 : Math.max(lastBadEnd, start + 1000);
        }
      } else if (c.revision === stableRevision) {
        stableServed += attempts(c);
        stableFailed += c.errors5xx + c.connectFailures;
      }
    }
  }

  // Periods with weight > 0, from the weight history.
  const points = [...weights].sort((a, b) => a.at - b.at);
  let maxShare = 0;
  let exposureMs = 0;
  let from: number | null = null;
  let to: number | null = null;
  let openSince: number | null = null;
  for (const point of points) {
    const share = shareOf(point, badRevision);
    maxShare = Math.max(maxShare, share);
    if (share > 0 && openSince === null) {
      openSince = point.at;
      from ??= point.at;
    } else if (share === 0 && openSince !== null) {
      exposureMs += point.at - openSince;
      to = point.at;
      openSince = null;
    }
  }
  if (openSince !== null) {
    const end = Math.max(openSince, options.until ?? lastBadEnd ?? openSince);
    exposureMs += end - openSince;
    to = end;
  }

  if (points.length === 0) {
    from = firstBad;
    to = lastBadEnd;
    exposureMs = from !== null && to !== null ? to - from : 0;
    maxShare = allAttempts > 0 ? served / allAttempts : 0;
  } else if (firstBad !== null && lastBadEnd !== null && (to === null || lastBadEnd - 1000 >= to)) {
    // Traffic in a bucket that began after the last weighted period (or with no weighted period):
    // pinned users or testers still reached it. A bucket straddling the end is not counted twice.
    exposureMs += lastBadEnd - (to === null ? firstBad : Math.max(to, firstBad));
    from ??= firstBad;
    to = lastBadEnd;
  }

  const failed = errors5xx + connectFailures;
  return {
    requestsServed: served,
    requestsFailed: failed,
    connectFailures,
    errorRate: served > 0 ? failed / served : 0,
    stableErrorRate: stableRevision !== null && stableServed > 0 ? stableFailed / stableServed : null,
    trafficShare: maxShare,
    stickyUsersExposed: options.stickyUsersExposed ?? null,
    exposureMs,
    from,
    to,
  };
}
