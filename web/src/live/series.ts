// Per-second traffic of an app, per revision, as the stream and GET /series give it: merging what
// arrives, reading one metric of one revision, and the spans where a value broke a threshold.
import type { AppRule, RevisionSecond, SeriesPoint } from '../api/types.ts';

/** What a chart draws of a revision's second. */
export type SeriesMetric = 'requestRate' | 'errorRate' | 'p50' | 'p99';

/** One value of one second; null where the second says nothing (an error rate without requests). */
export interface Sample {
  readonly t: number;
  readonly v: number | null;
}

export function metricValue(r: RevisionSecond, metric: SeriesMetric): number | null {
  switch (metric) {
    case 'requestRate':
      return r.requests;
    case 'errorRate':
      return r.requests > 0 ? r.errors / r.requests : null;
    case 'p50':
      return r.p50;
    case 'p99':
      return r.p99;
  }
}

/**
 * `kept` and `incoming` as one list ordered by second (an incoming second replaces a kept one),
 * holding the `keep` seconds up to the newest.
 */
export function mergeSeries(
  kept: readonly SeriesPoint[],
  incoming: readonly SeriesPoint[],
  keep: number,
): SeriesPoint[] {
  const bySecond = new Map<number, SeriesPoint>();
  for (const p of kept) bySecond.set(p.second, p);
  for (const p of incoming) bySecond.set(p.second, p);
  const merged = [...bySecond.values()].sort((a, b) => a.second - b.second);
  const newest = merged[merged.length - 1]?.second ?? 0;
  return merged.filter((p) => p.second > newest - keep);
}

/** The revisions that had a second in `points`, in ascending order. */
export function revisionsIn(points: readonly SeriesPoint[]): number[] {
  const seen = new Set<number>();
  for (const p of points) for (const r of p.revisions) seen.add(r.revision);
  return [...seen].sort((a, b) => a - b);
}

/**
 * One revision's metric over every second from `from` to `to` inclusive; a second the revision is
 * missing from is null, so that the line breaks there.
 */
export function samplesOf(
  points: readonly SeriesPoint[],
  revision: number,
  metric: SeriesMetric,
  from: number,
  to: number,
): Sample[] {
  const bySecond = new Map<number, RevisionSecond>();
  for (const p of points) {
    if (p.second < from || p.second > to) continue;
    const r = p.revisions.find((x) => x.revision === revision);
    if (r) bySecond.set(p.second, r);
  }
  const out: Sample[] = [];
  for (let t = from; t <= to; t++) {
    const r = bySecond.get(t);
    out.push({ t, v: r ? metricValue(r, metric) : null });
  }
  return out;
}

/**
 * A revision's metric over the seconds from..to as one figure: the error rate of all its
 * requests, the mean of the other metrics over the seconds that have them; null with no data.
 */
export function summaryOf(
  points: readonly SeriesPoint[],
  revision: number,
  metric: SeriesMetric,
  from: number,
  to: number,
): number | null {
  let requests = 0;
  let errors = 0;
  let sum = 0;
  let n = 0;
  for (const p of points) {
    if (p.second < from || p.second > to) continue;
    const r = p.revisions.find((x) => x.revision === revision);
    if (!r) continue;
    requests += r.requests;
    errors += r.errors;
    const v = metricValue(r, metric);
    if (v !== null) {
      sum += v;
      n++;
    }
  }
  if (metric === 'errorRate') return requests > 0 ? errors / requests : null;
  return n > 0 ? sum / n : null;
}

/** A run of seconds whose value broke a threshold; `held` when it lasted the rule's `for` window. */
export interface BreachSpan {
  readonly from: number;
  readonly to: number;
  readonly held: boolean;
}

/** The runs of consecutive samples above (or below) `threshold`; a null sample ends a run. */
export function breachSpans(
  samples: readonly Sample[],
  threshold: number,
  direction: 'above' | 'below',
  forSeconds: number,
): BreachSpan[] {
  const spans: BreachSpan[] = [];
  let start: number | null = null;
  let last = 0;
  const close = () => {
    if (start === null) return;
    spans.push({ from: start, to: last, held: last - start + 1 >= Math.max(1, forSeconds) });
    start = null;
  };
  for (const s of samples) {
    const broken = s.v !== null && (direction === 'above' ? s.v > threshold : s.v < threshold);
    if (!broken) {
      close();
      continue;
    }
    if (start === null) start = s.t;
    last = s.t;
  }
  close();
  return spans;
}

/** The chart a rule's metric is drawn on and the series it reads; null for the health metrics. */
export function ruleSeries(rule: Pick<AppRule, 'metric'>): SeriesMetric | null {
  switch (rule.metric) {
    case 'errorRate':
      return 'errorRate';
    case 'requestRate':
      return 'requestRate';
    case 'latencyP50':
      return 'p50';
    case 'latencyP95':
    case 'latencyP99':
      return 'p99';
    default:
      return null;
  }
}

/** The value a rule compares with: its own, or its factor times the baseline's (null when unknown). */
export function thresholdOf(rule: Pick<AppRule, 'threshold'>, baseline: number | null): number | null {
  const t = rule.threshold;
  if (t.kind === 'absolute') return t.value;
  return baseline === null ? null : t.factor * baseline;
}
