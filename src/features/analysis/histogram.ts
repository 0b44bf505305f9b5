// Latency histograms as the metrics sources give them: counts per bucket with the bucket bounds
// carried beside them, so that every quantile is computed with the bounds its data was counted in
// (the built-in proxy's, or a Prometheus histogram's `le` buckets).
import type { LatencyHistogram } from '../../providers/metrics-source.ts';

/** A histogram being summed into: its own bounds, counts it may add to. */
export interface HistogramSum extends LatencyHistogram {
  readonly counts: number[];
}

/** An all-zero histogram over `boundsMs`. */
export function emptyHistogram(boundsMs: readonly number[]): HistogramSum {
  return { boundsMs, counts: new Array<number>(boundsMs.length + 1).fill(0) };
}

/** Whether two bound lists are the same buckets (the same array, as a source shares it, or equal). */
export function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The bucket of `boundsMs` that holds a latency of `ms` (the last one above the last bound). */
export function bucketIndex(boundsMs: readonly number[], ms: number): number {
  for (let i = 0; i < boundsMs.length; i++) if (ms <= boundsMs[i]!) return i;
  return boundsMs.length;
}

/**
 * Adds `add`'s counts to `into` at `offset` (a row of a flat array of histograms over `boundsMs`).
 * Counts over other bounds are moved to the bucket holding their own bucket's upper bound: never
 * faster than measured, at worst one bucket slower.
 */
export function addCounts(
  into: { [i: number]: number },
  offset: number,
  boundsMs: readonly number[],
  add: LatencyHistogram,
): void {
  const n = boundsMs.length + 1;
  const counts = add.counts;
  if (sameBounds(boundsMs, add.boundsMs)) {
    for (let i = 0; i < n; i++) into[offset + i] = (into[offset + i] ?? 0) + (counts[i] ?? 0);
    return;
  }
  const last = add.boundsMs.length;
  for (let i = 0; i <= last; i++) {
    const c = counts[i] ?? 0;
    if (c === 0) continue;
    const j = i < last ? bucketIndex(boundsMs, add.boundsMs[i]!) : n - 1;
    into[offset + j] = (into[offset + j] ?? 0) + c;
  }
}

/** Adds `add` into `into` (re-binned onto `into`'s bounds when they differ). */
export function addHistogram(into: HistogramSum, add: LatencyHistogram): void {
  addCounts(into.counts, 0, into.boundsMs, add);
}

/** `h`'s counts over `boundsMs`: `h` itself when its bounds are those already. */
export function rebin(h: LatencyHistogram, boundsMs: readonly number[]): LatencyHistogram {
  if (sameBounds(h.boundsMs, boundsMs)) return h;
  const out = emptyHistogram(boundsMs);
  addHistogram(out, h);
  return out;
}

export function histogramCount(h: LatencyHistogram): number {
  let n = 0;
  for (const c of h.counts) n += c;
  return n;
}

/**
 * The q-quantile (0..1) of a latency histogram in ms, interpolated linearly within its bucket (as
 * Prometheus' histogram_quantile does; the first bucket starts at 0), with the histogram's own
 * bounds. A quantile that falls in the open last bucket is reported as the last bound: "at least
 * that". Null for an empty histogram.
 */
export function quantile(h: LatencyHistogram, q: number): number | null {
  const total = histogramCount(h);
  if (total <= 0) return null;
  const bounds = h.boundsMs;
  const top = bounds[bounds.length - 1] ?? 0;
  const target = Math.min(1, Math.max(0, q)) * total;
  let cumulative = 0;
  for (let i = 0; i <= bounds.length; i++) {
    const count = h.counts[i] ?? 0;
    if (count > 0 && cumulative + count >= target) {
      if (i >= bounds.length) return top;
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      const upper = bounds[i]!;
      return lower + ((upper - lower) * (target - cumulative)) / count;
    }
    cumulative += count;
  }
  return top;
}
