// Per-second samples from Prometheus counters. The source asks for the raw cumulative counters
// (one series per target, code and bucket) at every whole second of a range; this module takes the
// differences series by series, so a restarted instance (its counter back to 0) or a removed one
// (its series gone) is never read as a drop, and then sums them per revision and second. Pure: no
// I/O, table-tested in counter-series.test.ts.
import type { LatencyHistogram, MetricsSample, RevisionSample } from '../metrics-source.ts';

/** One series of a query_range answer: its labels and [unix seconds, "value"] points. */
export interface PromSeries {
  readonly metric: Readonly<Record<string, string>>;
  readonly values: readonly (readonly [number, string])[];
}

/** The three answers a read needs, over the same range. */
export interface CounterAnswers {
  readonly requests: readonly PromSeries[];
  readonly errors: readonly PromSeries[];
  readonly latency: readonly PromSeries[];
}

/** Why the answers cannot be read: names the query and the label. */
export class CounterShapeError extends Error {}

/**
 * A counter's increase in each second s of [from, to): its value at s+1 less its value at s (a
 * value at an instant is the last scrape at or before it). A series that first appears inside the
 * range counts from 0 (a new instance's first requests); a value below the last one is a reset
 * and counts from 0; a gap keeps the last value, so a target that was not scraped for a while
 * adds only what it served meanwhile.
 */
export function increases(values: PromSeries['values'], from: number, to: number): Map<number, number> {
  const out = new Map<number, number>();
  let last: number | undefined;
  for (const [t, raw] of values) {
    const v = Number(raw);
    if (!Number.isFinite(v) || t < from || t > to) continue;
    const inc = last === undefined ? (t === from ? 0 : v) : v >= last ? v - last : v;
    last = v;
    if (inc > 0) out.set(t - 1, (out.get(t - 1) ?? 0) + inc);
  }
  return out;
}

function revisionOf(series: PromSeries, label: string, query: string): number | undefined {
  const raw = series.metric[label];
  if (raw === undefined)
    throw new CounterShapeError(
      `the ${query} query returned a series without the label "${label}" (${labelsText(series.metric)}); ` +
        `keep the label in the query (no sum without "by (${label})"), or set metrics.revisionLabel to the label that carries the revision`,
    );
  const n = Number(raw);
  // Series of something else than a Rewind revision (an old deploy's pods) are not ours.
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

function labelsText(metric: PromSeries['metric']): string {
  const text = Object.entries(metric)
    .map(([k, v]) => `${k}="${v}"`)
    .join(', ');
  return text ? `{${text}}` : 'no labels';
}

/** Sums every series' per-second increases into `into[revision][second]`. */
function addAll(
  into: Map<number, Map<number, number>>,
  series: readonly PromSeries[],
  label: string,
  query: string,
  from: number,
  to: number,
): void {
  for (const s of series) {
    const revision = revisionOf(s, label, query);
    if (revision === undefined) continue;
    addIncreases(entry(into, revision), s.values, from, to);
  }
}

/** The map's value at `key`, added empty first when it has none. */
function entry<K, K2, V>(map: Map<K, Map<K2, V>>, key: K): Map<K2, V> {
  let value = map.get(key);
  if (!value) {
    value = new Map();
    map.set(key, value);
  }
  return value;
}

function addIncreases(
  perSecond: Map<number, number>,
  values: PromSeries['values'],
  from: number,
  to: number,
) {
  for (const [second, inc] of increases(values, from, to))
    perSecond.set(second, (perSecond.get(second) ?? 0) + inc);
}

/** `le` as milliseconds; +Inf as Infinity; undefined when it is not a bound. */
function leMs(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (raw === '+Inf') return Number.POSITIVE_INFINITY;
  const v = Number(raw);
  return Number.isFinite(v) && v >= 0 ? v * 1000 : undefined;
}

/**
 * The per-second samples of `[from, to)` from cumulative counters evaluated at each whole second
 * `from..to`. Seconds without any request are left out, as the built-in source leaves them out.
 */
export function samplesFromCounters(
  answers: CounterAnswers,
  options: { readonly revisionLabel: string; readonly from: number; readonly to: number },
): MetricsSample[] {
  const { revisionLabel: label, from, to } = options;
  const requests = new Map<number, Map<number, number>>();
  const errors = new Map<number, Map<number, number>>();
  addAll(requests, answers.requests, label, 'requests', from, to);
  addAll(errors, answers.errors, label, 'errors', from, to);

  // Latency: cumulative buckets per `le`, per revision and second; one set of bounds for all.
  const buckets = new Map<number, Map<number, Map<number, number>>>(); // revision -> le -> second -> n
  const bounds = new Set<number>();
  for (const s of answers.latency) {
    const revision = revisionOf(s, label, 'latency');
    if (revision === undefined) continue;
    const le = leMs(s.metric.le);
    if (le === undefined)
      throw new CounterShapeError(
        `the latency query returned a series without a bucket bound "le" (${labelsText(s.metric)}); ` +
          'ask for the histogram\'s _bucket series and keep "le" (for example sum by (revision, instance, le))',
      );
    if (Number.isFinite(le)) bounds.add(le);
    addIncreases(entry(entry(buckets, revision), le), s.values, from, to);
  }
  const boundsMs = [...bounds].sort((a, b) => a - b);

  const bySecond = new Map<number, RevisionSample[]>();
  for (const [revision, perSecond] of requests) {
    for (const [second, n] of perSecond) {
      if (second < from || second >= to) continue;
      const sample: RevisionSample = {
        revision,
        requests: n,
        errors5xx: Math.min(n, errors.get(revision)?.get(second) ?? 0),
        connectFailures: 0,
        latency: histogramAt(buckets.get(revision), boundsMs, second),
      };
      const list = bySecond.get(second);
      if (list) list.push(sample);
      else bySecond.set(second, [sample]);
    }
  }
  return [...bySecond.keys()]
    .sort((a, b) => a - b)
    .map((second) => ({
      second,
      revisions: bySecond.get(second)!.sort((a, b) => a.revision - b.revision),
    }));
}

/** A second's histogram from cumulative bucket increases (non-cumulative counts; never negative). */
function histogramAt(
  byLe: Map<number, Map<number, number>> | undefined,
  boundsMs: readonly number[],
  second: number,
): LatencyHistogram {
  const counts = new Array<number>(boundsMs.length + 1).fill(0);
  if (!byLe) return { boundsMs, counts };
  let below = 0;
  for (let i = 0; i < boundsMs.length; i++) {
    const cumulative = byLe.get(boundsMs[i]!)?.get(second) ?? below;
    counts[i] = Math.max(0, cumulative - below);
    below = Math.max(below, cumulative);
  }
  const all = byLe.get(Number.POSITIVE_INFINITY)?.get(second);
  counts[boundsMs.length] = all === undefined ? 0 : Math.max(0, all - below);
  return { boundsMs, counts };
}
