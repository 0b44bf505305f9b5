// Per-second observations of one revision, and the arithmetic the rules, the canary judgment,
// the watch, the verification and the incident's impact need over them: window sums, THE error
// rate, request rates (histogram quantiles are in histogram.ts).

import type { LatencyHistogram, MetricsSample } from '../../providers/metrics-source.ts';
import { LATENCY_BOUNDS_MS as BUILTIN_LATENCY_BOUNDS_MS } from '../../spec/proxy-spec.ts';
import { addCounts, addHistogram, emptyHistogram, sameBounds } from './histogram.ts';

/** Seconds of history a SeriesBuffer keeps unless told otherwise (15 minutes). */
export const DEFAULT_SERIES_SECONDS = 900;

export { errorRate, failedRequests, type RequestCounts } from '../../spec/error-rate.ts';

import type { RequestCounts } from '../../spec/error-rate.ts';

/** Requests per second over the window. */
export function requestRate(sum: { readonly requests: number; readonly seconds: number }): number {
  return sum.seconds > 0 ? sum.requests / sum.seconds : 0;
}

/**
 * What the runtime measured of a revision in one second (resources.ts makes it from
 * Runtime.usage): the sum over its instances, and the share of what the revision may use.
 */
export interface ResourceUsage {
  /** CPU as a share of what the revision may use, 0..1; null: not measured this second. */
  readonly cpu: number | null;
  /** Cores used, all instances together. */
  readonly cpuCores: number | null;
  /** Resident memory as a share of what the revision may use, 0..1. */
  readonly memory: number | null;
  readonly memoryBytes: number | null;
  /** Error lines the instances wrote in the second; null: the runtime does not see the logs. */
  readonly logErrors: number | null;
  readonly logLines: number | null;
}

/** What one revision did in one second. */
export interface Point extends RequestCounts {
  /** Unix time in whole seconds at the start of the second. */
  readonly second: number;
  /** With the bounds the source counted it in. */
  readonly latency: LatencyHistogram;
  /** Health checks of the revision were failing during this second. */
  readonly healthFailing: boolean;
  /** The revision had no healthy instance during this second. */
  readonly unavailable: boolean;
  /**
   * No controller saw the revision's health in this second (it was down): health rules neither
   * pass nor breach on it, so a breach that held before and after goes on.
   */
  readonly healthUnknown?: boolean;
  /** Resources of the revision in this second, when the runtime measured them. */
  readonly usage?: ResourceUsage;
}

/** Sums over the seconds from..to (both inclusive). */
export interface WindowSum extends RequestCounts {
  readonly from: number;
  readonly to: number;
  /** Seconds covered by the window (to - from + 1). */
  readonly seconds: number;
  /** Seconds of the window that have a point. */
  readonly knownSeconds: number;
  /** Seconds of the window whose health was seen (the share of health metrics is over these). */
  readonly healthKnownSeconds: number;
  /** Over the bounds of the window's first histogram with a count (others re-binned onto them). */
  readonly latency: LatencyHistogram;
  readonly healthFailingSeconds: number;
  readonly unavailableSeconds: number;
  /** Seconds with a CPU share, and the sum of those shares (the mean is cpu / cpuSeconds). */
  readonly cpuSeconds: number;
  readonly cpu: number;
  readonly memorySeconds: number;
  readonly memory: number;
  /** Seconds whose log lines were counted, and the error lines in them. */
  readonly logSeconds: number;
  readonly logErrors: number;
}

/** A second without traffic (its histogram over `boundsMs`, the built-in proxy's by default). */
export function emptyPoint(second: number, boundsMs: readonly number[] = BUILTIN_LATENCY_BOUNDS_MS): Point {
  return {
    second,
    requests: 0,
    errors5xx: 0,
    connectFailures: 0,
    latency: emptyHistogram(boundsMs),
    healthFailing: false,
    unavailable: false,
  };
}

/**
 * The bounds a window's histograms are summed over: those of its first point with a latency count
 * (else of its first point, else the built-in proxy's). A series has one source, so normally all
 * its points share them; a point counted in other bounds is re-binned onto these.
 */
export function seriesBounds(
  points: readonly Point[],
  from = Number.NEGATIVE_INFINITY,
  to = Number.POSITIVE_INFINITY,
): readonly number[] {
  let first: readonly number[] | null = null;
  for (const p of points) {
    if (p.second < from || p.second > to) continue;
    first ??= p.latency.boundsMs;
    for (const c of p.latency.counts) if (c > 0) return p.latency.boundsMs;
  }
  return first ?? BUILTIN_LATENCY_BOUNDS_MS;
}

/** Sums the points whose second lies in from..to (inclusive); points need not be sorted. */
export function sumWindow(points: readonly Point[], from: number, to: number): WindowSum {
  const latency = emptyHistogram(seriesBounds(points, from, to));
  let requests = 0;
  let errors5xx = 0;
  let connectFailures = 0;
  let knownSeconds = 0;
  let healthKnownSeconds = 0;
  let healthFailingSeconds = 0;
  let unavailableSeconds = 0;
  const resources = new Float64Array(RESOURCE_SUMS);
  for (const p of points) {
    if (p.second < from || p.second > to) continue;
    addUsage(resources, 0, p.usage);
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
    ...resourceSums((k) => resources[k]!),
  };
}

/** The resource sums of a window, kept as RESOURCE_SUMS numbers in this order. */
type ResourceSums = Pick<
  WindowSum,
  'cpuSeconds' | 'cpu' | 'memorySeconds' | 'memory' | 'logSeconds' | 'logErrors'
>;
const RESOURCE_SUMS = 6;

function resourceSums(sum: (k: number) => number): ResourceSums {
  return {
    cpuSeconds: sum(0),
    cpu: sum(1),
    memorySeconds: sum(2),
    memory: sum(3),
    logSeconds: sum(4),
    logErrors: sum(5),
  };
}

/** Adds a second's usage to the RESOURCE_SUMS numbers of `into` from `at`. */
function addUsage(into: Float64Array, at: number, usage: ResourceUsage | undefined): void {
  if (!usage) return;
  if (usage.cpu !== null) {
    into[at]! += 1;
    into[at + 1]! += usage.cpu;
  }
  if (usage.memory !== null) {
    into[at + 2]! += 1;
    into[at + 3]! += usage.memory;
  }
  if (usage.logErrors !== null) {
    into[at + 4]! += 1;
    into[at + 5]! += usage.logErrors;
  }
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

export interface PointsFromSamplesOptions {
  /** Revisions that get a point every second even without traffic (so their health is recorded). */
  readonly revisions?: readonly number[];
  readonly health?: (revision: number, second: number) => HealthState | undefined;
}

/** Splits a metrics source's samples into per-revision points, oldest first. */
export function pointsFromSamples(
  samples: readonly MetricsSample[],
  options: PointsFromSamplesOptions = {},
): Map<number, Point[]> {
  const out = new Map<number, Point[]>();
  const push = (revision: number, point: Point) => {
    const list = out.get(revision);
    if (list) list.push(point);
    else out.set(revision, [point]);
  };
  const sorted = [...samples].sort((a, b) => a.second - b.second);
  for (const sample of sorted) {
    const seen = new Set<number>();
    for (const c of sample.revisions) {
      seen.add(c.revision);
      push(c.revision, {
        second: sample.second,
        requests: c.requests,
        errors5xx: c.errors5xx,
        connectFailures: c.connectFailures,
        latency: c.latency,
        ...healthOf(options.health?.(c.revision, sample.second)),
      });
    }
    for (const revision of options.revisions ?? []) {
      if (seen.has(revision)) continue;
      push(revision, {
        ...emptyPoint(sample.second),
        ...healthOf(options.health?.(revision, sample.second)),
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
  /** The bounds of every window's histogram (seriesBounds of the indexed points). */
  readonly boundsMs: readonly number[];
  readonly #buckets: number;
  readonly #requests: Float64Array;
  readonly #errors: Float64Array;
  readonly #known: Float64Array;
  readonly #healthKnown: Float64Array;
  readonly #failing: Float64Array;
  readonly #unavailable: Float64Array;
  readonly #latency: Float64Array;
  /** Prefix sums of the resource sums, RESOURCE_SUMS per second. */
  readonly #resources: Float64Array;

  /** Indexes the points whose second lies in first..last. */
  constructor(points: readonly Point[], first: number, last: number) {
    this.first = first;
    this.last = Math.max(first - 1, last);
    const n = this.last - first + 1;
    const bounds = seriesBounds(points, first, this.last);
    const B = bounds.length + 1;
    this.boundsMs = bounds;
    this.#buckets = B;
    this.#requests = new Float64Array(n + 1);
    this.#errors = new Float64Array(n + 1);
    this.#known = new Float64Array(n + 1);
    this.#healthKnown = new Float64Array(n + 1);
    this.#failing = new Float64Array(n + 1);
    this.#unavailable = new Float64Array(n + 1);
    this.#latency = new Float64Array((n + 1) * B);
    const req = new Float64Array(n);
    const err = new Float64Array(n);
    const known = new Float64Array(n);
    const healthKnown = new Float64Array(n);
    const failing = new Float64Array(n);
    const unavailable = new Float64Array(n);
    const lat = new Float64Array(n * B);
    const R = RESOURCE_SUMS;
    this.#resources = new Float64Array((n + 1) * R);
    const usage = new Float64Array(n * R);
    for (const p of points) {
      const i = p.second - first;
      if (i < 0 || i >= n) continue;
      addUsage(usage, i * R, p.usage);
      req[i]! += p.requests;
      err[i]! += p.errors5xx + p.connectFailures;
      known[i] = 1;
      if (!p.healthUnknown) {
        healthKnown[i] = 1;
        if (p.healthFailing) failing[i] = 1;
        if (p.unavailable) unavailable[i] = 1;
      }
      addCounts(lat, i * B, bounds, p.latency);
    }
    for (let i = 0; i < n; i++) {
      this.#requests[i + 1] = this.#requests[i]! + req[i]!;
      this.#errors[i + 1] = this.#errors[i]! + err[i]!;
      this.#known[i + 1] = this.#known[i]! + known[i]!;
      this.#healthKnown[i + 1] = this.#healthKnown[i]! + healthKnown[i]!;
      this.#failing[i + 1] = this.#failing[i]! + failing[i]!;
      this.#unavailable[i + 1] = this.#unavailable[i]! + unavailable[i]!;
      for (let b = 0; b < B; b++)
        this.#latency[(i + 1) * B + b] = this.#latency[i * B + b]! + lat[i * B + b]!;
      for (let k = 0; k < R; k++)
        this.#resources[(i + 1) * R + k] = this.#resources[i * R + k]! + usage[i * R + k]!;
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
    const B = this.#buckets;
    const counts = new Array<number>(B);
    for (let k = 0; k < B; k++) counts[k] = this.#latency[b * B + k]! - this.#latency[a * B + k]!;
    return {
      from,
      to,
      seconds: Math.max(0, to - from + 1),
      knownSeconds: this.#known[b]! - this.#known[a]!,
      healthKnownSeconds: this.#healthKnown[b]! - this.#healthKnown[a]!,
      requests: this.#requests[b]! - this.#requests[a]!,
      errors5xx: this.#errors[b]! - this.#errors[a]!,
      connectFailures: 0,
      latency: { boundsMs: this.boundsMs, counts },
      healthFailingSeconds: this.#failing[b]! - this.#failing[a]!,
      unavailableSeconds: this.#unavailable[b]! - this.#unavailable[a]!,
      ...resourceSums(
        (k) => this.#resources[b * RESOURCE_SUMS + k]! - this.#resources[a * RESOURCE_SUMS + k]!,
      ),
    };
  }
}

/**
 * A point as the store keeps it (the rollout's analysis series): everything but its second, which
 * the store holds in its own column. The histogram's counts are kept as `latency`, as before
 * samples carried their bounds; `latencyBoundsMs` only when they are not the built-in proxy's, so
 * the rows of the built-in source are what they were.
 */
export function pointToJson(point: Point): unknown {
  const { second: _, latency, ...rest } = point;
  return {
    ...rest,
    latency: latency.counts,
    ...(sameBoundsAsBuiltin(latency.boundsMs) ? {} : { latencyBoundsMs: latency.boundsMs }),
  };
}

const sameBoundsAsBuiltin = (bounds: readonly number[]) => sameBounds(bounds, BUILTIN_LATENCY_BOUNDS_MS);

/**
 * A point read back from the store; null for data this version cannot read (it is skipped). A row
 * without `latencyBoundsMs` was counted in the built-in proxy's bounds (all rows written before
 * samples carried their bounds were).
 */
export function pointFromJson(second: number, data: unknown): Point | null {
  if (typeof data !== 'object' || data === null) return null;
  const d = data as Record<string, unknown>;
  const count = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  if (!count(d.requests) || !count(d.errors5xx) || !count(d.connectFailures)) return null;
  if (!Array.isArray(d.latency) || !d.latency.every(count)) return null;
  let boundsMs: readonly number[] = BUILTIN_LATENCY_BOUNDS_MS;
  if (d.latencyBoundsMs !== undefined) {
    const b = d.latencyBoundsMs;
    if (!Array.isArray(b) || !b.every((x, i) => count(x) && (i === 0 || x > b[i - 1]))) return null;
    if (!sameBoundsAsBuiltin(b)) boundsMs = b as number[];
  }
  const latency = emptyHistogram(boundsMs);
  for (let i = 0; i < latency.counts.length; i++)
    latency.counts[i] = (d.latency[i] as number | undefined) ?? 0;
  return {
    second,
    requests: d.requests as number,
    errors5xx: d.errors5xx as number,
    connectFailures: d.connectFailures as number,
    latency,
    healthFailing: d.healthFailing === true,
    unavailable: d.unavailable === true,
    ...(d.healthUnknown === true ? { healthUnknown: true } : {}),
    ...usageFromJson(d.usage),
  };
}

const USAGE_KEYS = ['cpu', 'cpuCores', 'memory', 'memoryBytes', 'logErrors', 'logLines'] as const;

/** A point's usage as stored; nothing when absent or not readable. */
function usageFromJson(data: unknown): { usage?: ResourceUsage } {
  if (typeof data !== 'object' || data === null) return {};
  const d = data as Record<string, unknown>;
  const usage: Record<string, number | null> = {};
  for (const key of USAGE_KEYS) {
    const v = d[key] ?? null;
    if (v !== null && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) return {};
    usage[key] = v as number | null;
  }
  return { usage: usage as unknown as ResourceUsage };
}
