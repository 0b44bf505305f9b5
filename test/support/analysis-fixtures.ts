// Deterministic builders and simulators for the analysis tests.

import { bucketIndex, emptyHistogram, type HistogramSum } from '../../src/features/analysis/histogram.ts';
import { emptyPoint, type Point } from '../../src/features/analysis/series.ts';
import { BUILTIN_LATENCY_BOUNDS_MS } from '../../src/providers/builtin/metrics/builtin-metrics-source.ts';

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A Binomial(n, p) draw by inversion (fast for the small n*p of error counts). */
export function binomial(random: () => number, n: number, p: number): number {
  if (p <= 0 || n <= 0) return 0;
  if (p >= 1) return n;
  if (p > 0.5) return n - binomial(random, n, 1 - p);
  const u = random();
  const ratio = p / (1 - p);
  let pmf = (1 - p) ** n;
  let cdf = pmf;
  let k = 0;
  while (u > cdf && k < n) {
    pmf *= ((n - k) / (k + 1)) * ratio;
    k++;
    cdf += pmf;
  }
  return k;
}

/** Index of the built-in proxy's latency bucket holding ms. */
export function bucketOf(ms: number): number {
  return bucketIndex(BUILTIN_LATENCY_BOUNDS_MS, ms);
}

/** A histogram (built-in bounds) of n log-normal latencies with the given median (ms) and log-sd. */
export function lognormalHistogram(
  random: () => number,
  n: number,
  median: number,
  sigma = 0.5,
): HistogramSum {
  const h = emptyHistogram(BUILTIN_LATENCY_BOUNDS_MS);
  for (let i = 0; i < n; i++) {
    const u1 = Math.max(random(), 1e-12);
    const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * random());
    h.counts[bucketOf(median * Math.exp(sigma * z))]!++;
  }
  return h;
}

/** A histogram (built-in bounds) with every request in the bucket of ms. */
export function histogramAt(ms: number, n: number): HistogramSum {
  const h = emptyHistogram(BUILTIN_LATENCY_BOUNDS_MS);
  h.counts[bucketOf(ms)] = n;
  return h;
}

export interface SecondSpec {
  requests?: number;
  errors?: number;
  latencyMs?: number;
  healthFailing?: boolean;
  unavailable?: boolean;
  /** What the runtime measured: CPU and memory shares (0..1), error lines in the second. */
  cpu?: number;
  memory?: number;
  logErrors?: number;
}

/** Points for consecutive seconds from `start`, one per spec. */
export function points(start: number, specs: readonly SecondSpec[]): Point[] {
  return specs.map((s, i) => ({
    ...emptyPoint(start + i),
    requests: s.requests ?? 0,
    errors5xx: s.errors ?? 0,
    latency: histogramAt(s.latencyMs ?? 10, s.requests ?? 0),
    healthFailing: s.healthFailing ?? false,
    unavailable: s.unavailable ?? false,
    ...(s.cpu !== undefined || s.memory !== undefined || s.logErrors !== undefined
      ? {
          usage: {
            cpu: s.cpu ?? null,
            cpuCores: s.cpu === undefined ? null : s.cpu * 2,
            memory: s.memory ?? null,
            memoryBytes: s.memory === undefined ? null : s.memory * 8 * 1024 ** 3,
            logErrors: s.logErrors ?? null,
            logLines: s.logErrors ?? null,
          },
        }
      : {}),
  }));
}

/** `n` copies of a second. */
export function repeat(n: number, spec: SecondSpec): SecondSpec[] {
  return Array.from({ length: n }, () => spec);
}

export interface CanarySimulation {
  readonly candidate: Point[];
  readonly baseline: Point[];
}

/**
 * A canary at `weight` of `rps` requests a second for `seconds`, each revision failing requests
 * with its own probability; latency log-normal around the given medians.
 */
export function simulateCanary(
  random: () => number,
  o: {
    seconds: number;
    rps: number;
    weight: number;
    canaryErrorRate: number;
    baselineErrorRate: number;
    canaryMedianMs?: number;
    baselineMedianMs?: number;
    start?: number;
  },
): CanarySimulation {
  const candidate: Point[] = [];
  const baseline: Point[] = [];
  const start = o.start ?? 1_000_000;
  for (let i = 0; i < o.seconds; i++) {
    const nc = binomial(random, o.rps, o.weight);
    const nb = o.rps - nc;
    const lat = (n: number, median: number | undefined) =>
      median === undefined ? histogramAt(10, n) : lognormalHistogram(random, n, median);
    candidate.push({
      ...emptyPoint(start + i),
      requests: nc,
      errors5xx: binomial(random, nc, o.canaryErrorRate),
      latency: lat(nc, o.canaryMedianMs),
    });
    baseline.push({
      ...emptyPoint(start + i),
      requests: nb,
      errors5xx: binomial(random, nb, o.baselineErrorRate),
      latency: lat(nb, o.baselineMedianMs),
    });
  }
  return { candidate, baseline };
}
