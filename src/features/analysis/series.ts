// Per-second observations of one revision, and the arithmetic the rules and the canary judgment
// need over them: window sums, histogram quantiles, error and request rates.
import { LATENCY_BOUNDS_MS, type MetricsBucket } from '../../providers/builtin/proxy/types.ts';

/** Number of latency buckets: one per bound plus the open bucket above the last bound. */
export const LATENCY_BUCKETS = LATENCY_BOUNDS_MS.length + 1;

/** Seconds of history a SeriesBuffer keeps unless told otherwise (15 minutes). */
export const DEFAULT_SERIES_SECONDS = 900;

/** What one revision did in one second. */
export interface Point {
  /** Unix time in whole seconds at the start of the second. */
  readonly second: number;
  readonly requests: number;
  readonly errors5xx: number;
  readonly connectFailures: number;
  /** Counts per latency bucket (bounds in LATENCY_BOUNDS_MS, last bucket above the last bound). */
  readonly latency: readonly number[];
  /** Health checks of the revision were failing during this second. */
  readonly healthFailing: boolean;
  /** The revision had no healthy instance during this second. */
  readonly unavailable: boolean;
  /**
   * No controller saw the revision's health in this second (it was down): health rules neither
   * pass nor breach on it, so a breach that held before and after goes on.
   */
  readonly healthUnknown?: boolean;
}

/** Sums over the seconds from..to (both inclusive). */
export interface WindowSum {
  readonly from: number;
  readonly to: number;
  /** Seconds covered by the window (to - from + 1). */
  readonly seconds: number;
  /** Seconds of the window that have a point. */
  readonly knownSeconds: number;
  /** Seconds of the window whose health was seen (the share of health metrics is over these). */
  readonly healthKnownSeconds: number;
  readonly requests: number;
  readonly errors5xx: number;
  readonly connectFailures: number;
  readonly latency: readonly number[];
  readonly healthFailingSeconds: number;
  readonly unavailableSeconds: number;
}

export function emptyPoint(second: number): Point {
  return {
    second,
    requests: 0,
    errors5xx: 0,
    connectFailures: 0,
    latency: new Array<number>(LATENCY_BUCKETS).fill(0),
    healthFailing: false,
    unavailable: false,
  };
}

/** Sums the points whose second lies in from..to (inclusive); points need not be sorted. */
export function sumWindow(points: readonly Point[], from: number, to: number): WindowSum {
  const latency = new Array<number>(LATENCY_BUCKETS).fill(0);
  let requests = 0;
  let errors5xx = 0;
  let connectFailures = 0;
  let knownSeconds = 0;
  let healthKnownSeconds = 0;
  let healthFailingSeconds = 0;
  let unavailableSeconds = 0;
  for (const p of points) {
    if (p.second < from || p.second > to) continue;
    knownSeconds++;
    requests += p.requests;
    errors5xx += p.errors5xx;
    connectFailures += p.connectFailures;
    if (!p.healthUnknown) {
      healthKnownSeconds++;
      if (p.healthFailing) healthFailingSeconds++;
      if (p.unavailable) unavailableSeconds++;
    }
    addHistogram(latency, p.latency);
  }
  return {
    from,
    to,
    seconds: Math.max(0, to - from + 1),
    knownSeconds,
    healthKnownSeconds,
    requests,
    errors5xx,
    connectFailures,
    latency,
    healthFailingSeconds,
    unavailableSeconds,
  };
}

export function addHistogram(into: number[], add: readonly number[]): void {
  for (let i = 0; i < LATENCY_BUCKETS; i++) into[i] = (into[i] ?? 0) + (add[i] ?? 0);
}

export function histogramCount(histogram: readonly number[]): number {
  let n = 0;
  for (const c of histogram) n += c;
  return n;
}

/**
 * The q-quantile (0..1) of a latency histogram in ms, interpolated linearly within its bucket (as
 * Prometheus' histogram_quantile does; the first bucket starts at 0). A quantile that falls in the
 * open last bucket is reported as the last bound: "at least that". Null for an empty histogram.
 */
export function quantile(histogram: readonly number[], q: number): number | null {
  const total = histogramCount(histogram);
  if (total <= 0) return null;
  const target = Math.min(1, Math.max(0, q)) * total;
  let cumulative = 0;
  for (let i = 0; i < LATENCY_BUCKETS; i++) {
    const count = histogram[i] ?? 0;
    if (count > 0 && cumulative + count >= target) {
      if (i >= LATENCY_BOUNDS_MS.length) return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1]!;
      const lower = i === 0 ? 0 : LATENCY_BOUNDS_MS[i - 1]!;
      const upper = LATENCY_BOUNDS_MS[i]!;
      return lower + ((upper - lower) * (target - cumulative)) / count;
    }
    cumulative += count;
  }
  return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1]!;
}

/** Failed requests (5xx and connect failures) over requests, at most 1; null without requests. */
export function errorRate(sum: Pick<WindowSum, 'requests' | 'errors5xx' | 'connectFailures'>): number | null {
  if (sum.requests <= 0) return null;
  return Math.min(1, (sum.errors5xx + sum.connectFailures) / sum.requests);
}

/** Requests per second over the window. */
export function requestRate(sum: Pick<WindowSum, 'requests' | 'seconds'>): number {
  return sum.seconds > 0 ? sum.requests / sum.seconds : 0;
}

/** Health of a revision in one second, as the controller's health monitor saw it. */
export interface HealthState {
  readonly healthFailing: boolean;
  readonly unavailable: boolean;
  /** Nobody saw it (the controller was down): see Point.healthUnknown. */
  readonly unknown?: boolean;
}

/** The health of a second no controller saw. */
export const UNKNOWN_HEALTH: HealthState = { healthFailing: false, unavailable: false, unknown: true };

function healthOf(
  health: HealthState | undefined,
): Pick<Point, 'healthFailing' | 'unavailable' | 'healthUnknown'> {
  if (health?.unknown) return { healthFailing: false, unavailable: false, healthUnknown: true };
  return { healthFailing: health?.healthFailing ?? false, unavailable: health?.unavailable ?? false };
}

export interface PointsFromBucketsOptions {
  /** Revisions that get a point every second even without traffic (so their health is recorded). */
  readonly revisions?: readonly number[];
  readonly health?: (revision: number, second: number) => HealthState | undefined;
}

/** Splits the data plane's buckets into per-revision points, oldest first. */
export function pointsFromBuckets(
  buckets: readonly MetricsBucket[],
  options: PointsFromBucketsOptions = {},
): Map<number, Point[]> {
  const out = new Map<number, Point[]>();
  const push = (revision: number, point: Point) => {
    const list = out.get(revision);
    if (list) list.push(point);
    else out.set(revision, [point]);
  };
  const sorted = [...buckets].sort((a, b) => a.second - b.second);
  for (const bucket of sorted) {
    const seen = new Set<number>();
    for (const c of bucket.revisions) {
      seen.add(c.revision);
      const latency = new Array<number>(LATENCY_BUCKETS).fill(0);
      addHistogram(latency, c.latency);
      push(c.revision, {
        second: bucket.second,
        requests: c.requests,
        errors5xx: c.errors5xx,
        connectFailures: c.connectFailures,
        latency,
        ...healthOf(options.health?.(c.revision, bucket.second)),
      });
    }
    for (const revision of options.revisions ?? []) {
      if (seen.has(revision)) continue;
      push(revision, {
        ...emptyPoint(bucket.second),
        ...healthOf(options.health?.(revision, bucket.second)),
      });
    }
  }
  return out;
}

/**
 * A bounded, ordered series of one revision's points. Appending a second that is already held
 * replaces it (re-reading a bucket is idempotent); points older than `capacity` seconds before the
 * newest are dropped.
 */
export class SeriesBuffer {
  readonly capacity: number;
  #points: Point[] = [];

  constructor(capacitySeconds: number = DEFAULT_SERIES_SECONDS) {
    if (!Number.isInteger(capacitySeconds) || capacitySeconds < 1)
      throw new RangeError(`capacity must be a whole number of seconds >= 1, not ${capacitySeconds}`);
    this.capacity = capacitySeconds;
  }

  get size(): number {
    return this.#points.length;
  }

  get latestSecond(): number | undefined {
    return this.#points.at(-1)?.second;
  }

  append(point: Point): void {
    const points = this.#points;
    const last = points.at(-1);
    if (!last || point.second > last.second) points.push(point);
    else {
      let i = points.length - 1;
      while (i >= 0 && points[i]!.second > point.second) i--;
      if (i >= 0 && points[i]!.second === point.second) points[i] = point;
      else points.splice(i + 1, 0, point);
    }
    const oldest = points.at(-1)!.second - this.capacity + 1;
    let drop = 0;
    while (drop < points.length && points[drop]!.second < oldest) drop++;
    if (drop > 0) points.splice(0, drop);
  }

  appendAll(points: readonly Point[]): void {
    for (const p of points) this.append(p);
  }

  /** The point of `second`, if held. */
  at(second: number): Point | undefined {
    const points = this.#points;
    let lo = 0;
    let hi = points.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = points[mid]!.second;
      if (s === second) return points[mid];
      if (s < second) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** A copy of the points with from <= second <= to, oldest first. */
  points(from = Number.NEGATIVE_INFINITY, to = Number.POSITIVE_INFINITY): Point[] {
    return this.#points.filter((p) => p.second >= from && p.second <= to);
  }
}

/**
 * Prefix sums over a dense range of seconds, so that any window is summed in O(buckets). Seconds
 * without a point count as no traffic and unknown health.
 */
export class SeriesIndex {
  readonly first: number;
  readonly last: number;
  readonly #requests: Float64Array;
  readonly #errors: Float64Array;
  readonly #known: Float64Array;
  readonly #healthKnown: Float64Array;
  readonly #failing: Float64Array;
  readonly #unavailable: Float64Array;
  readonly #latency: Float64Array;

  /** Indexes the points whose second lies in first..last. */
  constructor(points: readonly Point[], first: number, last: number) {
    this.first = first;
    this.last = Math.max(first - 1, last);
    const n = this.last - first + 1;
    this.#requests = new Float64Array(n + 1);
    this.#errors = new Float64Array(n + 1);
    this.#known = new Float64Array(n + 1);
    this.#healthKnown = new Float64Array(n + 1);
    this.#failing = new Float64Array(n + 1);
    this.#unavailable = new Float64Array(n + 1);
    this.#latency = new Float64Array((n + 1) * LATENCY_BUCKETS);
    const req = new Float64Array(n);
    const err = new Float64Array(n);
    const known = new Float64Array(n);
    const healthKnown = new Float64Array(n);
    const failing = new Float64Array(n);
    const unavailable = new Float64Array(n);
    const lat = new Float64Array(n * LATENCY_BUCKETS);
    for (const p of points) {
      const i = p.second - first;
      if (i < 0 || i >= n) continue;
      req[i]! += p.requests;
      err[i]! += p.errors5xx + p.connectFailures;
      known[i] = 1;
      if (!p.healthUnknown) {
        healthKnown[i] = 1;
        if (p.healthFailing) failing[i] = 1;
        if (p.unavailable) unavailable[i] = 1;
      }
      for (let b = 0; b < LATENCY_BUCKETS; b++) lat[i * LATENCY_BUCKETS + b]! += p.latency[b] ?? 0;
    }
    for (let i = 0; i < n; i++) {
      this.#requests[i + 1] = this.#requests[i]! + req[i]!;
      this.#errors[i + 1] = this.#errors[i]! + err[i]!;
      this.#known[i + 1] = this.#known[i]! + known[i]!;
      this.#healthKnown[i + 1] = this.#healthKnown[i]! + healthKnown[i]!;
      this.#failing[i + 1] = this.#failing[i]! + failing[i]!;
      this.#unavailable[i + 1] = this.#unavailable[i]! + unavailable[i]!;
      for (let b = 0; b < LATENCY_BUCKETS; b++)
        this.#latency[(i + 1) * LATENCY_BUCKETS + b] =
          this.#latency[i * LATENCY_BUCKETS + b]! + lat[i * LATENCY_BUCKETS + b]!;
    }
  }

  #range(from: number, to: number): [number, number] {
    const a = Math.max(from, this.first) - this.first;
    const b = Math.min(to, this.last) - this.first + 1;
    return b > a ? [a, b] : [0, 0];
  }

  requests(from: number, to: number): number {
    const [a, b] = this.#range(from, to);
    return this.#requests[b]! - this.#requests[a]!;
  }

  /** Sums over from..to (inclusive); errors5xx holds 5xx and connect failures together. */
  sum(from: number, to: number): WindowSum {
    const [a, b] = this.#range(from, to);
    const latency = new Array<number>(LATENCY_BUCKETS);
    for (let k = 0; k < LATENCY_BUCKETS; k++)
      latency[k] = this.#latency[b * LATENCY_BUCKETS + k]! - this.#latency[a * LATENCY_BUCKETS + k]!;
    return {
      from,
      to,
      seconds: Math.max(0, to - from + 1),
      knownSeconds: this.#known[b]! - this.#known[a]!,
      healthKnownSeconds: this.#healthKnown[b]! - this.#healthKnown[a]!,
      requests: this.#requests[b]! - this.#requests[a]!,
      errors5xx: this.#errors[b]! - this.#errors[a]!,
      connectFailures: 0,
      latency,
      healthFailingSeconds: this.#failing[b]! - this.#failing[a]!,
      unavailableSeconds: this.#unavailable[b]! - this.#unavailable[a]!,
    };
  }
}

/**
 * A point as the store keeps it (the rollout's analysis series): everything but its second, which
 * the store holds in its own column.
 */
export function pointToJson(point: Point): unknown {
  const { second: _, ...rest } = point;
  return rest;
}

/** A point read back from the store; null for data this version cannot read (it is skipped). */
export function pointFromJson(second: number, data: unknown): Point | null {
  if (typeof data !== 'object' || data === null) return null;
  const d = data as Record<string, unknown>;
  const count = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  if (!count(d.requests) || !count(d.errors5xx) || !count(d.connectFailures)) return null;
  if (!Array.isArray(d.latency) || !d.latency.every(count)) return null;
  const latency = new Array<number>(LATENCY_BUCKETS).fill(0);
  addHistogram(latency, d.latency as number[]);
  return {
    second,
    requests: d.requests as number,
    errors5xx: d.errors5xx as number,
    connectFailures: d.connectFailures as number,
    latency,
    healthFailing: d.healthFailing === true,
    unavailable: d.unavailable === true,
    ...(d.healthUnknown === true ? { healthUnknown: true } : {}),
  };
}
