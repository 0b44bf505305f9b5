// One rule against one revision's series: is it breaching now, and for how long has it been?
// Pure and stateless: the breach's start is found again from the series on every call, so a
// restarted controller reaches the same verdict.
import { formatDuration } from '../../shared/duration.ts';
import { roundForPeople } from '../../shared/format-number.ts';
import {
  HEALTH_METRICS,
  LOG_ERRORS_WINDOW_SECONDS,
  MAX_SAMPLE_WINDOW_SECONDS,
  type Metric,
  RESOURCE_METRICS,
  type Rule,
} from '../../spec/analysis-spec.ts';
import { quantile } from './histogram.ts';
import { errorRate, type Point, requestRate, SeriesIndex, type WindowSum } from './series.ts';

export type RulePhase = 'Pass' | 'Breach' | 'Pending' | 'Inconclusive' | 'Error';

export interface RuleVerdict {
  readonly rule: Rule;
  readonly phase: RulePhase;
  /** The metric in the latest window (error rate as a fraction, latency in ms, requests/s, share of seconds). */
  readonly observed: number | null;
  /** The threshold in the same unit (for a relative rule: factor x the baseline's value). */
  readonly threshold: number | null;
  /** Unix ms at which the current breach began (Pending and Breach), else null. */
  readonly breachingSince: number | null;
  /** The latest window evaluated, unix ms, half-open [from, to). */
  readonly window: { readonly from: number; readonly to: number };
  /** Requests in the latest window (seconds with a known state, for health metrics). */
  readonly sample: number;
  readonly message: string;
}

export interface AssessOptions {
  /** The analysis interval, ms: the width of the base window (default 1s). */
  readonly interval?: number;
}

/** How many seconds the newest data may lag behind `now` before it counts as missing. */
const DATA_LAG_SECONDS = 2;

interface Judged {
  kind: 'breach' | 'ok';
  value: number;
  threshold: number;
  sample: number;
  from: number;
  to: number;
}
interface Unjudged {
  kind: 'inconclusive' | 'error';
  value: number | null;
  threshold: number | null;
  sample: number;
  from: number;
  to: number;
  note: string;
}
type Step = Judged | Unjudged;
const judged = (step: Step): step is Judged => step.kind === 'breach' || step.kind === 'ok';

const LABEL: Readonly<Record<Metric, string>> = {
  errorRate: 'error rate',
  latencyP50: 'p50 latency',
  latencyP95: 'p95 latency',
  latencyP99: 'p99 latency',
  requestRate: 'request rate',
  healthFailing: 'health checks failing',
  unavailable: 'no healthy instance',
  cpu: 'CPU',
  memory: 'memory',
  logErrors: 'error lines',
};

const HEALTHY: Partial<Record<Metric, string>> = {
  healthFailing: 'health checks passing',
  unavailable: 'a healthy instance is up',
};

const QUANTILE: Partial<Record<Metric, number>> = { latencyP50: 0.5, latencyP95: 0.95, latencyP99: 0.99 };

/** The metric's value over a window sum, or null when it has no value there. */
function metricValue(metric: Metric, sum: WindowSum): number | null {
  switch (metric) {
    case 'errorRate':
      return errorRate(sum);
    case 'requestRate':
      return requestRate(sum);
    case 'healthFailing':
      return sum.healthKnownSeconds > 0 ? sum.healthFailingSeconds / sum.healthKnownSeconds : null;
    case 'unavailable':
      return sum.healthKnownSeconds > 0 ? sum.unavailableSeconds / sum.healthKnownSeconds : null;
    case 'cpu':
      return sum.cpuSeconds > 0 ? sum.cpu / sum.cpuSeconds : null;
    case 'memory':
      return sum.memorySeconds > 0 ? sum.memory / sum.memorySeconds : null;
    case 'logErrors':
      return sum.logSeconds > 0 ? sum.logErrors : null;
    default:
      return quantile(sum.latency, QUANTILE[metric] ?? 0.99);
  }
}

/** Seconds of the window the metric was known in: requests for traffic, seen seconds for the rest. */
function sampleOf(metric: Metric, sum: WindowSum): number {
  if (HEALTH_METRICS.includes(metric)) return sum.healthKnownSeconds;
  if (metric === 'cpu') return sum.cpuSeconds;
  if (metric === 'memory') return sum.memorySeconds;
  if (metric === 'logErrors') return sum.logSeconds;
  return sum.requests;
}

export function formatValue(metric: Metric, value: number): string {
  if (metric === 'errorRate' || metric === 'cpu' || metric === 'memory' || HEALTH_METRICS.includes(metric))
    return `${roundForPeople(value * 100)}%`;
  if (metric === 'requestRate') return `${roundForPeople(value)} req/s`;
  if (metric === 'logErrors') return `${roundForPeople(value)}/min`;
  return `${roundForPeople(value)}ms`;
}

function thresholdText(rule: Rule, threshold: number | null): string {
  if (rule.threshold.kind === 'absolute') return formatValue(rule.metric, rule.threshold.value);
  const base = threshold === null ? '' : ` (${formatValue(rule.metric, threshold)})`;
  return `${rule.threshold.factor}x baseline${base}`;
}

/**
 * Evaluates a rule on the candidate's points at `now` (unix ms; the last complete second is the
 * one before it). Each evaluation step looks at the trailing `interval`, widened second by second
 * until minSample requests are in it (at most 60 s). A breach must hold at every step for `for`;
 * steps without enough data inside a breach neither end it nor start it.
 */
export function assessRule(
  rule: Rule,
  candidate: readonly Point[],
  baseline: readonly Point[] | null,
  now: number,
  options: AssessOptions = {},
): RuleVerdict {
  const width = Math.max(1, Math.round((options.interval ?? 1000) / 1000));
  const health = HEALTH_METRICS.includes(rule.metric);
  const resource = RESOURCE_METRICS.includes(rule.metric);
  const sampled = !health && !resource && rule.metric !== 'requestRate';
  const label = LABEL[rule.metric];

  let firstSecond = Number.POSITIVE_INFINITY;
  let lastSecond = Number.NEGATIVE_INFINITY;
  for (const p of candidate) {
    if (p.second < firstSecond) firstSecond = p.second;
    if (p.second > lastSecond) lastSecond = p.second;
  }
  const complete = Math.floor(now / 1000) - 1;
  const toSecond = lastSecond >= complete - DATA_LAG_SECONDS ? Math.min(lastSecond, complete) : complete;

  const verdict = (
    phase: RulePhase,
    step: Step | null,
    breachingSince: number | null,
    message: string,
  ): RuleVerdict => ({
    rule,
    phase,
    observed: step?.value ?? null,
    threshold: step?.threshold ?? null,
    breachingSince,
    window: step
      ? { from: step.from * 1000, to: (step.to + 1) * 1000 }
      : { from: (toSecond - width + 1) * 1000, to: (toSecond + 1) * 1000 },
    sample: step?.sample ?? 0,
    message: `${message} (${rule.severity})`,
  });

  if (candidate.length === 0 || firstSecond > toSecond)
    return verdict('Inconclusive', null, null, `${label}: no data from this revision yet`);

  const relative = rule.threshold.kind === 'relative';
  const baselinePoints = baseline ?? [];
  if (relative && baselinePoints.length === 0)
    return verdict(
      'Error',
      null,
      null,
      `${label}: no baseline data to compare with ${thresholdText(rule, null)}; is the stable revision running?`,
    );

  const horizon = toSecond - firstSecond + 1;
  const lookback = MAX_SAMPLE_WINDOW_SECONDS + width;
  const cand = new SeriesIndex(candidate, firstSecond - lookback, toSecond);
  const base = relative ? new SeriesIndex(baselinePoints, firstSecond - lookback, toSecond) : null;

  const evaluate = (t: number): Step => {
    // Widen the candidate's window until minSample requests are in it.
    let from = t - (rule.metric === 'logErrors' ? LOG_ERRORS_WINDOW_SECONDS : width) + 1;
    if (sampled && rule.minSample > 0) {
      const limit = t - Math.max(width, MAX_SAMPLE_WINDOW_SECONDS) + 1;
      while (from > limit && cand.requests(from, t) < rule.minSample) from--;
    }
    const sum = cand.sum(from, t);
    const sample = sampleOf(rule.metric, sum);
    const value = metricValue(rule.metric, sum);
    const unjudged = (kind: Unjudged['kind'], note: string): Unjudged => ({
      kind,
      value,
      threshold: null,
      sample,
      from,
      to: t,
      note,
    });
    if (sampled && (sum.requests < Math.max(1, rule.minSample) || value === null))
      return unjudged(
        'inconclusive',
        `${sum.requests} requests in the last ${t - from + 1}s, ${rule.minSample} needed`,
      );
    if (value === null)
      return unjudged(
        'inconclusive',
        resource
          ? 'not measured in these seconds (the runtime measures no usage, or not yet)'
          : 'state unknown',
      );
    let threshold: number;
    if (rule.threshold.kind === 'absolute') threshold = rule.threshold.value;
    else if (resource) {
      // The baseline over the same seconds: what the stable revision uses beside the candidate.
      const bValue = metricValue(rule.metric, base!.sum(from, t));
      if (bValue === null)
        return unjudged(
          'error',
          `the baseline's ${label} was not measured in the last ${t - from + 1}s to compare with ${thresholdText(rule, null)}`,
        );
      threshold = rule.threshold.factor * bValue;
    } else {
      let bFrom = from;
      const limit = t - Math.max(t - from + 1, MAX_SAMPLE_WINDOW_SECONDS) + 1;
      const need = Math.max(1, rule.minSample);
      while (bFrom > limit && base!.requests(bFrom, t) < need) bFrom--;
      const bSum = base!.sum(bFrom, t);
      const bValue = metricValue(rule.metric, bSum);
      if (bSum.requests === 0 || bValue === null)
        return unjudged(
          'error',
          `no baseline traffic in the last ${t - bFrom + 1}s to compare with ${thresholdText(rule, null)}`,
        );
      if (bSum.requests < need)
        return unjudged(
          'inconclusive',
          `baseline has ${bSum.requests} requests in the last ${t - bFrom + 1}s, ${need} needed`,
        );
      threshold = rule.threshold.factor * bValue;
    }
    const breaching = rule.direction === 'above' ? value > threshold : value < threshold;
    return { kind: breaching ? 'breach' : 'ok', value, threshold, sample, from, to: t };
  };

  const latest = evaluate(toSecond);
  if (!judged(latest))
    return verdict(
      latest.kind === 'error' ? 'Error' : 'Inconclusive',
      latest,
      null,
      `${label}: ${latest.note}`,
    );
  const shown = formatValue(rule.metric, latest.value);
  const limitText = thresholdText(rule, latest.threshold);
  if (latest.kind === 'ok') {
    const text = health
      ? `${HEALTHY[rule.metric]} (${label} ${shown} of the last ${latest.to - latest.from + 1}s)`
      : `${label} ${shown}, not ${rule.direction} ${limitText}`;
    return verdict('Pass', latest, null, text);
  }

  // Walk back to the start of the breach: the earliest breaching step after the last passing one.
  let start = toSecond;
  for (let t = toSecond - 1; t > toSecond - horizon; t--) {
    const step = evaluate(t);
    if (step.kind === 'ok') break;
    if (step.kind === 'breach') start = t;
  }
  const lasted = (toSecond - start + 1) * 1000;
  const since = start * 1000;
  const what = health ? label : `${label} ${shown} ${rule.direction} ${limitText}`;
  if (lasted >= rule.for) return verdict('Breach', latest, since, `${what} for ${formatDuration(lasted)}`);
  return verdict(
    'Pending',
    latest,
    since,
    `${what} for ${formatDuration(lasted)} of ${formatDuration(rule.for)}`,
  );
}
