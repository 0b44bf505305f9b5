// The before/after judgment: for a release that takes all traffic at once (blue-green, a rolling
// or single-step switch, a canary once at 100%), there is no stable revision serving beside it to
// compare with. The previous revision's own per-second series over the minutes before the switch
// is the reference instead, and the release's series since the switch is tested against it.
//
// Error rates: the reference rate is known only from a sample, so the test runs against a
// conservative bound of it: p0 = max(ratioMargin x upper, upper + absoluteMargin), `upper` being
// the reference's one-sided 99.9% Wilson upper bound. Against "the release fails at most p0", a
// mixture (uniform over a grid of p1 > p0) of the Bernoulli likelihood ratios p1 : p0 is a
// non-negative supermartingale, so by Ville's inequality it reaches 1/alpha with probability at
// most alpha however often it is looked at; with the bound failing with probability 0.001, a
// healthy release is judged Worse with probability at most alpha + 0.001.
//
// Latency: the same Mann-Whitney comparison as the canary judgment, with its ratio and floor, on
// the seconds after a warm-up: a fresh process on a busy box answered a healthy release's first
// seconds at twice the median of the warm one it replaced, which rolled it back before this.
//
// What it cannot tell apart: anything else that changed at the moment of the switch. A traffic
// surge, a slow dependency or a bad client arriving together with the release looks like the
// release. The margins keep small shifts from counting; the rules still judge on their own.

import type { LatencyHistogram } from '../../providers/metrics-source.ts';
import { LATENCY_BOUNDS_MS as BUILTIN_LATENCY_BOUNDS_MS } from '../../spec/proxy-spec.ts';
import type { BeforeSummary } from '../../spec/rollout-state.ts';
import { formatValue } from './assess-rule.ts';

export type { BeforeSummary };

import type { CanaryJudgment, CanaryJudgmentOptions, JudgmentVerdict } from './canary-judgment.ts';
import { compareLatency, fmtEvidence, logMixture, wilsonLower } from './canary-judgment.ts';
import { addHistogram, emptyHistogram, sameBounds } from './histogram.ts';
import { failedRequests, type Point, sumWindow } from './series.ts';

/** The reference's latency histogram, with its bounds. */
export function beforeLatency(before: BeforeSummary): LatencyHistogram {
  return { boundsMs: before.latencyBoundsMs ?? BUILTIN_LATENCY_BOUNDS_MS, counts: before.latency };
}

export interface BeforeAfterOptions extends CanaryJudgmentOptions {
  /** Requests the reference needs before any judgment (default 100). */
  readonly minBefore?: number;
  /** The reference's newest traffic may end at most this long before the switch, ms (default 30 s). */
  readonly maxBeforeAge?: number;
  /**
   * Latency is judged on the seconds from this long after the switch, ms (default 10 s): a freshly
   * started process is slower while its runtime warms up (JIT, caches, pools), which is not the
   * release's fault; the previous revision it is compared with was warm.
   */
  readonly latencyWarmup?: number;
  /**
   * ... and must be slower in every 10 s window over this long, ms (default 20 s): unlike a canary
   * beside its stable revision, a before/after comparison also sees the box or its traffic get
   * slower, and a passing spike is not the release.
   */
  readonly latencyFor?: number;
}

/** Seconds of each latency window of the before/after judgment. */
const LATENCY_WINDOW_SECONDS = 10;

/** Seconds of the previous revision's history summarised as the reference (the data plane keeps 120). */
export const BEFORE_SECONDS = 110;

const BOUND_Z = 3.09; // one-sided 99.9%
const WORSE_GRID = [1.25, 1.5, 2, 3, 5, 10, 30, 100];

/** One-sided Wilson upper bound of a proportion. */
export function wilsonUpper(successes: number, n: number, z = BOUND_Z): number {
  if (n <= 0) return 1;
  return 1 - wilsonLower(n - successes, n, z);
}

/** The reference: the previous revision's seconds before `switchSecond` (not including it). */
export function summarizeBefore(
  points: readonly Point[],
  switchSecond: number,
  seconds = BEFORE_SECONDS,
): BeforeSummary | null {
  const window = points.filter(
    (p) => p.requests > 0 && p.second < switchSecond && p.second >= switchSecond - seconds,
  );
  if (window.length === 0) return null;
  const active = window.map((p) => p.second);
  const sum = sumWindow(window, Math.min(...active), Math.max(...active));
  return {
    from: sum.from,
    to: sum.to,
    requests: sum.requests,
    errors: failedRequests(sum),
    latency: sum.latency.counts,
    ...(sameBounds(sum.latency.boundsMs, BUILTIN_LATENCY_BOUNDS_MS)
      ? {}
      : { latencyBoundsMs: sum.latency.boundsMs }),
  };
}

const pct = (x: number) => formatValue('errorRate', x);

/**
 * The release's error rate since the switch against the reference. `after` holds the release's
 * points; only seconds from `since` (unix ms, the switch) to the last complete second before `now`
 * count.
 */
export function judgeErrorsBeforeAfter(
  before: BeforeSummary,
  after: readonly Point[],
  options: BeforeAfterOptions & { readonly since: number; readonly now: number },
): CanaryJudgment {
  const alpha = 1 - (options.confidence ?? 0.99);
  const minSample = options.minSample ?? 50;
  const upper = wilsonUpper(before.errors, before.requests);
  const p0 = Math.min(
    0.99,
    Math.max((options.ratioMargin ?? 1.5) * upper, upper + (options.absoluteMargin ?? 0.005)),
  );
  const grid = WORSE_GRID.map((m) => p0 * m).filter((p) => p < 1);
  grid.push((1 + p0) / 2);
  const logs = grid.map(() => 0);
  const logBound = Math.log(1 / alpha);
  const first = Math.ceil(options.since / 1000);
  const last = Math.floor(options.now / 1000) - 1;
  let n = 0;
  let e = 0;
  let evidence = 1;
  let decidedAt: number | null = null;
  let decidedAfter: number | null = null;
  const seconds = after
    .filter((p) => p.second >= first && p.second <= last)
    .sort((a, b) => a.second - b.second);
  for (const p of seconds) {
    const pe = failedRequests(p);
    n += p.requests;
    e += pe;
    if (decidedAt !== null) continue;
    for (let k = 0; k < grid.length; k++) {
      const p1 = grid[k]!;
      logs[k]! += pe * Math.log(p1 / p0) + (p.requests - pe) * Math.log((1 - p1) / (1 - p0));
    }
    const logMix = logMixture(logs);
    evidence = Math.exp(Math.min(700, logMix));
    if (n >= minSample && logMix >= logBound) {
      decidedAt = p.second;
      decidedAfter = n;
    }
  }
  const beforeRate = before.errors / before.requests;
  const afterRate = n > 0 ? e / n : null;
  const stats = {
    afterRequests: n,
    afterErrors: e,
    afterRate,
    beforeRequests: before.requests,
    beforeErrors: before.errors,
    beforeRate,
    bound: p0,
    evidence,
    threshold: Number((1 / alpha).toPrecision(12)),
    decidedAt: decidedAt === null ? null : (decidedAt + 1) * 1000,
    decidedAfterRequests: decidedAfter,
  };
  const rates = `error rate ${afterRate === null ? 'n/a' : pct(afterRate)} (${e}/${n}) since the switch vs ${pct(beforeRate)} (${before.errors}/${before.requests}) before`;
  const result = (verdict: JudgmentVerdict, message: string): CanaryJudgment => ({
    verdict,
    metric: 'errorRate',
    message,
    stats,
  });
  const confidence = `${Number(((1 - alpha) * 100).toPrecision(4))}%`;
  if (decidedAt !== null)
    return result(
      'Worse',
      `${rates}: above ${pct(p0)} with ${confidence} confidence (evidence ${fmtEvidence(evidence)} >= ${fmtEvidence(1 / alpha)}) after ${decidedAfter} requests`,
    );
  if (n < minSample) return result('Continue', `${rates}: ${n} of ${minSample} requests needed`);
  if (n >= 4 * minSample && wilsonUpper(e, n, 2.326) < p0)
    return result('NotWorse', `${rates}: below ${pct(p0)} with 99% confidence`);
  return result(
    'Continue',
    `${rates}: no decision yet (evidence ${fmtEvidence(evidence)} of ${fmtEvidence(1 / alpha)})`,
  );
}

/** Why a reference cannot be judged against, or null when it can. */
export function beforeProblem(
  before: BeforeSummary | null,
  switchSecond: number,
  options: BeforeAfterOptions = {},
): string | null {
  const minBefore = options.minBefore ?? 100;
  const maxAge = options.maxBeforeAge ?? 30_000;
  if (!before) return 'the previous revision had no traffic before the switch';
  if (before.requests < minBefore)
    return `the previous revision served ${before.requests} requests before the switch, ${minBefore} needed`;
  const age = (switchSecond - before.to - 1) * 1000;
  if (age > maxAge)
    return `the previous revision's last traffic was ${Math.round(age / 1000)}s before the switch (at most ${Math.round(maxAge / 1000)}s)`;
  return null;
}

/**
 * The release's latency against the reference: slower (Mann-Whitney, ratio and floor) in every
 * 10 s window ending in the last `latencyFor`, counting from `latencyWarmup` after the switch.
 */
export function judgeLatencyBeforeAfter(
  before: BeforeSummary,
  after: readonly Point[],
  options: BeforeAfterOptions & { readonly since: number; readonly now: number },
): CanaryJudgment {
  const first = Math.ceil(options.since / 1000) + Math.ceil((options.latencyWarmup ?? 10_000) / 1000);
  const last = Math.floor(options.now / 1000) - 1;
  const persist = Math.max(1, Math.round((options.latencyFor ?? 20_000) / 1000));
  const bySecond = new Map<number, LatencyHistogram>();
  for (const p of after) if (p.second >= first && p.second <= last) bySecond.set(p.second, p.latency);
  const labels = { ...options, labels: ['release', 'before the switch'] as const };
  const reference = beforeLatency(before);
  // The release's windows are summed over the reference's bounds: Mann-Whitney compares buckets.
  const windowAt = (end: number) => {
    const h = emptyHistogram(reference.boundsMs);
    for (let t = Math.max(first, end - LATENCY_WINDOW_SECONDS + 1); t <= end; t++) {
      const l = bySecond.get(t);
      if (l) addHistogram(h, l);
    }
    return compareLatency(h, reference, labels);
  };
  const latest = windowAt(last);
  const needed = LATENCY_WINDOW_SECONDS + persist - 1;
  if (latest.verdict !== 'Worse') return latest;
  if (last - first + 1 < needed)
    return {
      ...latest,
      verdict: 'Continue',
      message: `${latest.message}; slower for ${last - first + 1}s of the ${needed}s needed`,
    };
  for (let end = last - 1; end > last - persist; end--)
    if (windowAt(end).verdict !== 'Worse')
      return { ...latest, verdict: 'Continue', message: `${latest.message}; not yet slower for ${persist}s` };
  return { ...latest, message: `${latest.message}, in every 10s window for ${persist}s` };
}

/**
 * Both comparisons of the release since the switch with the reference; a Worse on either decides.
 * A reference too thin or too old gives no judgment (verdict Continue, judged false): the rules
 * still apply, nothing is guessed.
 */
export function judgeBeforeAfter(
  before: BeforeSummary | null,
  after: readonly Point[],
  options: BeforeAfterOptions & { readonly since: number; readonly now: number },
): CanaryJudgment & { readonly parts: readonly CanaryJudgment[]; readonly judged: boolean } {
  const switchSecond = Math.ceil(options.since / 1000);
  const problem = beforeProblem(before, switchSecond, options);
  if (problem || !before)
    return {
      verdict: 'Continue',
      metric: 'all',
      message: `no before/after judgment: ${problem}`,
      stats: {},
      parts: [],
      judged: false,
      basis: 'beforeAfter',
    };
  const parts = [
    judgeErrorsBeforeAfter(before, after, options),
    judgeLatencyBeforeAfter(before, after, options),
  ];
  const worse = parts.find((p) => p.verdict === 'Worse');
  const basis = 'beforeAfter' as const;
  if (worse) return { ...worse, message: `before/after: ${worse.message}`, parts, judged: true, basis };
  const pending = parts.find((p) => p.verdict === 'Continue');
  const message = `before/after: ${parts.map((p) => p.message).join('; ')}`;
  if (pending) return { ...pending, message, parts, judged: true, basis };
  return { verdict: 'NotWorse', metric: 'all', message, stats: {}, parts, judged: true, basis };
}

/**
 * The reference as a per-second series over from..to (seconds, inclusive): each second holds the
 * reference's average second. After a full switch the previous revision serves nothing, so rules
 * relative to the baseline ("p99 above 3x baseline") compare with what it did before the switch.
 */
export function referencePoints(before: BeforeSummary, from: number, to: number): Point[] {
  const seconds = Math.max(1, before.to - before.from + 1);
  const reference = beforeLatency(before);
  const latency = { boundsMs: reference.boundsMs, counts: reference.counts.map((c) => c / seconds) };
  const out: Point[] = [];
  for (let second = from; second <= to; second++)
    out.push({
      second,
      requests: before.requests / seconds,
      errors5xx: before.errors / seconds,
      connectFailures: 0,
      latency,
      healthFailing: false,
      unavailable: false,
    });
  return out;
}
