// Interval-based canary checks in the style of Flagger and Argo Rollouts, run on the same simulated
// per-second traffic as Rewind's analysis (bench/judge-compare.ts). Models, not the real tools:
//
// Flagger-style (analysis.interval 1m, threshold 5): every interval, the metric checks run over the
// last minute of canary traffic: request-success-rate >= 99% (error rate <= 1%) and
// request-duration p99 <= 500 ms (the thresholds of Flagger's documented example). A check fails
// when any metric is out of range; failed checks add up (they are not reset by a passing one); the
// scheduler rolls back at the first iteration that finds failedChecks >= threshold, one interval
// after the failing check that reached it. The weight is held at the canary's (maxWeight = weight).
//
// Argo-style AnalysisRun (interval 1m, failureLimit 3, successCondition: result < 0.05 on the error
// rate over the last minute): the first measurement one interval after the canary's start
// (initialDelay 1m, so the query's window holds canary traffic); the run fails, and the rollout
// aborts, at the measurement that makes failed > failureLimit. No latency metric.
import { errorRate, quantile } from '../../src/features/analysis/index.ts';
import { LATENCY_BOUNDS_MS } from '../../src/providers/builtin/proxy/types.ts';
import type { SimulatedTraffic } from './canary-sim.ts';

export interface CheckOutcome {
  /** ms from the canary's start to the rollback; null: none within the horizon. */
  readonly decidedAfterMs: number | null;
  readonly verdict: string;
  /** Measurements taken (and how many failed) until the decision or the horizon. */
  readonly measurements: number;
  readonly failed: number;
}

function lastMinute(traffic: SimulatedTraffic, at: number, intervalMs: number) {
  const to = Math.floor(at / 1000) - 1; // the last complete second
  const from = to - Math.round(intervalMs / 1000) + 1;
  let requests = 0;
  let errors5xx = 0;
  let connectFailures = 0;
  const latency = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
  for (let s = from; s <= to; s++) {
    const c = traffic.counts(s).canary;
    if (!c) continue;
    requests += c.requests;
    errors5xx += c.errors5xx;
    connectFailures += c.connectFailures;
    for (let i = 0; i < latency.length; i++) latency[i]! += c.latency[i] ?? 0;
  }
  return {
    requests,
    errorRate: errorRate({ requests, errors5xx, connectFailures }),
    p99: quantile({ boundsMs: LATENCY_BOUNDS_MS, counts: latency }, 0.99),
  };
}

export function flaggerStyle(
  traffic: SimulatedTraffic,
  horizonMs: number,
  o: { intervalMs?: number; threshold?: number; maxErrorRate?: number; maxP99Ms?: number } = {},
): CheckOutcome {
  const interval = o.intervalMs ?? 60_000;
  const threshold = o.threshold ?? 5;
  const maxErrorRate = o.maxErrorRate ?? 0.01;
  const maxP99 = o.maxP99Ms ?? 500;
  let failedChecks = 0;
  let measurements = 0;
  for (let k = 1; k * interval <= horizonMs; k++) {
    const at = traffic.canaryStart + k * interval;
    if (failedChecks >= threshold)
      return {
        decidedAfterMs: k * interval,
        verdict: `rollback (${failedChecks} failed checks)`,
        measurements,
        failed: failedChecks,
      };
    const m = lastMinute(traffic, at, interval);
    if (m.requests === 0) continue; // no traffic: Flagger would wait (or fail on "no values found")
    measurements++;
    if ((m.errorRate ?? 0) > maxErrorRate || (m.p99 ?? 0) > maxP99) failedChecks++;
  }
  return {
    decidedAfterMs: null,
    verdict: `no rollback (${failedChecks}/${threshold} failed checks)`,
    measurements,
    failed: failedChecks,
  };
}

export function argoStyle(
  traffic: SimulatedTraffic,
  horizonMs: number,
  o: { intervalMs?: number; failureLimit?: number; maxErrorRate?: number } = {},
): CheckOutcome {
  const interval = o.intervalMs ?? 60_000;
  const failureLimit = o.failureLimit ?? 3;
  const maxErrorRate = o.maxErrorRate ?? 0.05;
  let failed = 0;
  let measurements = 0;
  for (let k = 1; k * interval <= horizonMs; k++) {
    const m = lastMinute(traffic, traffic.canaryStart + k * interval, interval);
    if (m.errorRate === null) continue;
    measurements++;
    if (!(m.errorRate < maxErrorRate)) failed++;
    if (failed > failureLimit)
      return {
        decidedAfterMs: k * interval,
        verdict: `rollback (${failed} failed measurements)`,
        measurements,
        failed,
      };
  }
  return {
    decidedAfterMs: null,
    verdict: `no rollback (${failed} failed of ${measurements})`,
    measurements,
    failed,
  };
}
