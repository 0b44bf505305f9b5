// The fast judgment of a canary against the stable revision running beside it.
//
// Error rates: an always-valid sequential test on the rate ratio rho = p_canary / p_baseline.
// Given that a failed request happened in second t, it came from the canary with probability
// q_t(rho) = s_t rho / (s_t rho + 1 - s_t), s_t being the canary's share of that second's requests
// (exact for Poisson counts, close for rare errors). This removes the baseline's unknown rate and
// follows it when it drifts. The test statistic is a mixture, over a grid of rho above the margin
// rho0, of the likelihood ratios against rho0: under "canary no worse than rho0 x baseline" it is a
// non-negative supermartingale, so by Ville's inequality the chance that it EVER reaches 1/alpha is
// at most alpha, however often it is looked at (it may be recomputed every second). A canary has
// to be both statistically (rho > ratioMargin) and practically (absoluteMargin) worse, and have
// minSample requests, before it is judged Worse. The mirror test (rho below rhoBad) says NotWorse.
//
// Latency: Mann-Whitney U on the two histograms, ties handled by bucket mid-ranks (as Kayenta's
// classifier does), one-sided (canary slower), flagged only when the canary's median is also at
// least latencyRatio x the baseline's and at least latencyMinIncreaseMs slower: a freshly
// started process answers in 0.5 ms where a warm one takes 0.25 ms, a 2x that nobody feels and
// that rolled back every healthy canary before this floor existed (bench/false-alarms.ts).
import type { LatencyHistogram } from '../../providers/metrics-source.ts';
import { formatNumber } from '../../shared/format-number.ts';
import { formatValue } from './assess-rule.ts';
import { addHistogram, emptyHistogram, histogramCount, quantile, rebin } from './histogram.ts';
import { failedRequests, type Point, seriesBounds } from './series.ts';

export type JudgmentVerdict = 'Worse' | 'NotWorse' | 'Continue';

export interface CanaryJudgment {
  readonly verdict: JudgmentVerdict;
  readonly metric: 'errorRate' | 'latency' | 'all';
  readonly message: string;
  readonly stats: Readonly<Record<string, number | null>>;
  /** What the release was compared with: the stable revision beside it (default) or itself before the switch. */
  readonly basis?: 'canary' | 'beforeAfter';
}

export interface CanaryJudgmentOptions {
  /** 1 - false-alarm probability of the error-rate test over a whole analysis (default 0.99). */
  readonly confidence?: number;
  /** Canary requests before any verdict (default 50). */
  readonly minSample?: number;
  /** Unix ms: only seconds from here on belong to this analysis (default: all points). */
  readonly since?: number;
  /** Unix ms: only seconds that ended by now are used (default: all points). */
  readonly now?: number;
  /** The canary's error rate may be this multiple of the baseline's and not be worse (default 1.5). */
  readonly ratioMargin?: number;
  /** ... and (95% lower bound) exceed the baseline's by this much, absolute, to be worse (default 0.005). */
  readonly absoluteMargin?: number;
  /** NotWorse means: error rate confidently below this multiple of the baseline's (default 2 x ratioMargin). */
  readonly notWorseRatio?: number;
  /** One-sided p-value below which the canary is slower (default 0.001). */
  readonly latencyAlpha?: number;
  /** ... and its median must be at least this multiple of the baseline's (default 1.5). */
  readonly latencyRatio?: number;
  /** ... and at least this many milliseconds above it (default 5). */
  readonly latencyMinIncreaseMs?: number;
}

const WORSE_GRID = [1.25, 1.5, 2, 3, 5, 10, 30, 100, 1000];
const NOT_WORSE_GRID = [0.8, 0.6, 0.4, 0.25, 0.1, 0.01];

interface Second {
  readonly second: number;
  nc: number;
  ec: number;
  nb: number;
  eb: number;
}

function window(points: readonly Point[], options: CanaryJudgmentOptions): Point[] {
  const from = options.since === undefined ? Number.NEGATIVE_INFINITY : Math.ceil(options.since / 1000);
  const to = options.now === undefined ? Number.POSITIVE_INFINITY : Math.floor(options.now / 1000) - 1;
  return points.filter((p) => p.second >= from && p.second <= to);
}

function align(candidate: readonly Point[], baseline: readonly Point[]): Second[] {
  const bySecond = new Map<number, Second>();
  const at = (second: number) => {
    const found = bySecond.get(second);
    if (found) return found;
    const s: Second = { second, nc: 0, ec: 0, nb: 0, eb: 0 };
    bySecond.set(second, s);
    return s;
  };
  for (const p of candidate) {
    const s = at(p.second);
    s.nc += p.requests;
    s.ec += failedRequests(p);
  }
  for (const p of baseline) {
    const s = at(p.second);
    s.nb += p.requests;
    s.eb += failedRequests(p);
  }
  return [...bySecond.values()].sort((a, b) => a.second - b.second);
}

/** One-sided 95% Wilson lower bound of a proportion: the practical margin is not met by noise. */
export function wilsonLower(successes: number, n: number, z = 1.645): number {
  if (n <= 0) return 0;
  const p = successes / n;
  const z2 = z * z;
  const centre = p + z2 / (2 * n);
  const spread = z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return Math.max(0, (centre - spread) / (1 + z2 / n));
}

/** log of the mixture (uniform weights) of the likelihood ratios held in logs. */
export function logMixture(logs: readonly number[]): number {
  const max = Math.max(...logs);
  let sum = 0;
  for (const l of logs) sum += Math.exp(l - max);
  return max + Math.log(sum / logs.length);
}

const pct = (x: number | null) => (x === null ? 'n/a' : formatValue('errorRate', x));
export const fmtEvidence = (x: number) => (x >= 1000 ? x.toExponential(1) : formatNumber(x));

/** The sequential error-rate comparison over the whole analysis so far. */
export function judgeErrorRate(
  candidate: readonly Point[],
  baseline: readonly Point[],
  options: CanaryJudgmentOptions = {},
): CanaryJudgment {
  const alpha = 1 - (options.confidence ?? 0.99);
  const minSample = options.minSample ?? 50;
  const rho0 = options.ratioMargin ?? 1.5;
  const rhoBad = options.notWorseRatio ?? 2 * rho0;
  const absoluteMargin = options.absoluteMargin ?? 0.005;
  const logBound = Math.log(1 / alpha);
  const worseRhos = WORSE_GRID.map((m) => rho0 * m);
  const notWorseRhos = NOT_WORSE_GRID.map((m) => rhoBad * m);
  const worseLogs = worseRhos.map(() => 0);
  const notWorseLogs = notWorseRhos.map(() => 0);

  let nc = 0;
  let ec = 0;
  let nb = 0;
  let eb = 0;
  let maxEvidence = 1;
  let decidedAt: number | null = null;
  let decidedAfter: number | null = null;
  let evidence = 1;
  let notWorseEvidence = 1;

  for (const s of align(window(candidate, options), window(baseline, options))) {
    nc += s.nc;
    ec += s.ec;
    nb += s.nb;
    eb += s.eb;
    const share = s.nc / (s.nc + s.nb);
    if (s.ec + s.eb > 0 && share > 0 && share < 1) {
      const q = (rho: number) => (share * rho) / (share * rho + 1 - share);
      const accumulate = (rhos: readonly number[], logs: number[], null0: number) => {
        const q0 = q(null0);
        for (let k = 0; k < rhos.length; k++) {
          const qk = q(rhos[k]!);
          logs[k]! += s.ec * Math.log(qk / q0) + s.eb * Math.log((1 - qk) / (1 - q0));
        }
      };
      accumulate(worseRhos, worseLogs, rho0);
      accumulate(notWorseRhos, notWorseLogs, rhoBad);
    }
    if (decidedAt !== null) continue; // the test stopped at its decision; keep counting totals
    evidence = Math.exp(logMixture(worseLogs));
    notWorseEvidence = Math.exp(logMixture(notWorseLogs));
    if (nc < minSample) continue;
    maxEvidence = Math.max(maxEvidence, evidence);
    const rb = nb > 0 ? eb / nb : 0;
    if (Math.log(evidence) >= logBound && wilsonLower(ec, nc) - rb >= absoluteMargin) {
      decidedAt = s.second;
      decidedAfter = nc;
    }
  }
  const notWorse = nc >= minSample && Math.log(notWorseEvidence) >= logBound;

  const canaryRate = nc > 0 ? ec / nc : null;
  const baselineRate = nb > 0 ? eb / nb : null;
  const stats = {
    canaryRequests: nc,
    canaryErrors: ec,
    canaryRate,
    baselineRequests: nb,
    baselineErrors: eb,
    baselineRate,
    evidence,
    notWorseEvidence,
    threshold: Number((1 / alpha).toPrecision(12)),
    pValue: Math.min(1, 1 / maxEvidence),
    decidedAt: decidedAt === null ? null : (decidedAt + 1) * 1000,
    decidedAfterRequests: decidedAfter,
  };
  const rates = `canary error rate ${pct(canaryRate)} (${ec}/${nc}) vs baseline ${pct(baselineRate)} (${eb}/${nb})`;
  const confidence = `${Number(((1 - alpha) * 100).toPrecision(4))}%`;
  const result = (verdict: JudgmentVerdict, message: string): CanaryJudgment => ({
    verdict,
    metric: 'errorRate',
    message,
    stats,
  });
  if (decidedAt !== null)
    return result(
      'Worse',
      `${rates}: worse with ${confidence} confidence (evidence ${fmtEvidence(evidence)} >= ${fmtEvidence(1 / alpha)}) after ${decidedAfter} canary requests`,
    );
  if (nb === 0) return result('Continue', `${rates}: no baseline traffic to compare with`);
  if (nc < minSample) return result('Continue', `${rates}: ${nc} of ${minSample} canary requests needed`);
  if (notWorse)
    return result('NotWorse', `${rates}: below ${rhoBad}x the baseline with ${confidence} confidence`);
  return result(
    'Continue',
    `${rates}: no decision yet (evidence ${fmtEvidence(evidence)} of ${fmtEvidence(1 / alpha)})`,
  );
}

/** Standard normal upper tail, P(Z > z) (erfc approximation, relative error < 1.2e-7). */
export function normalUpperTail(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const erfc =
    t *
    Math.exp(
      -x * x -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return z >= 0 ? erfc / 2 : 1 - erfc / 2;
}

export interface MannWhitney {
  readonly u: number;
  readonly z: number;
  /** One-sided p-value of "the first sample is stochastically larger (slower)". */
  readonly pValue: number;
}

/** Mann-Whitney U of two histograms' counts over the same buckets, ties as bucket mid-ranks. */
export function mannWhitney(first: readonly number[], second: readonly number[]): MannWhitney {
  let n1 = 0;
  let n2 = 0;
  for (const c of first) n1 += c;
  for (const c of second) n2 += c;
  const n = n1 + n2;
  if (n1 === 0 || n2 === 0) return { u: 0, z: 0, pValue: 1 };
  let below = 0;
  let rankSum = 0;
  let ties = 0;
  const buckets = Math.max(first.length, second.length);
  for (let i = 0; i < buckets; i++) {
    const a = first[i] ?? 0;
    const t = a + (second[i] ?? 0);
    if (t === 0) continue;
    rankSum += a * (below + (t + 1) / 2);
    ties += t * t * t - t;
    below += t;
  }
  const u = rankSum - (n1 * (n1 + 1)) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - ties / (n * (n - 1)));
  if (variance <= 0) return { u, z: 0, pValue: 1 };
  const z = (u - (n1 * n2) / 2 - 0.5) / Math.sqrt(variance);
  return { u, z, pValue: normalUpperTail(z) };
}

/** Rank comparison of the canary's latency histogram with the baseline's. */
export function judgeLatency(
  candidate: readonly Point[],
  baseline: readonly Point[],
  options: CanaryJudgmentOptions = {},
): CanaryJudgment {
  const cw = window(candidate, options);
  const bw = window(baseline, options);
  // Both over the same buckets (the baseline's, else the canary's): Mann-Whitney compares buckets.
  const bounds = seriesBounds(bw.length ? bw : cw);
  const c = emptyHistogram(bounds);
  const b = emptyHistogram(bounds);
  for (const p of cw) addHistogram(c, p.latency);
  for (const p of bw) addHistogram(b, p.latency);
  return compareLatency(c, b, options);
}

/**
 * The latency comparison on two histograms: `candidate` against `reference` (the stable revision
 * beside it, or the previous revision before the switch). Labels say "canary" and "baseline". The
 * candidate is re-binned onto the reference's bounds if it was counted in others.
 */
export function compareLatency(
  candidate: LatencyHistogram,
  b: LatencyHistogram,
  options: CanaryJudgmentOptions & { readonly labels?: readonly [string, string] } = {},
): CanaryJudgment {
  const minSample = options.minSample ?? 50;
  const alpha = options.latencyAlpha ?? 0.001;
  const ratio = options.latencyRatio ?? 1.5;
  const minIncrease = options.latencyMinIncreaseMs ?? 5;
  const [cl, bl] = options.labels ?? ['canary', 'baseline'];
  const c = rebin(candidate, b.boundsMs);
  const nc = histogramCount(c);
  const nb = histogramCount(b);
  const cm = quantile(c, 0.5);
  const bm = quantile(b, 0.5);
  // A median in the first bucket is at least half its bound: no ratio against a 0 ms baseline.
  const floor = (b.boundsMs[0] ?? 1) / 2;
  const medianRatio = cm !== null && bm !== null ? cm / Math.max(bm, floor) : null;
  const mw = mannWhitney(c.counts, b.counts);
  const stats = {
    canaryCount: nc,
    baselineCount: nb,
    canaryMedian: cm,
    baselineMedian: bm,
    medianRatio,
    canaryP99: quantile(c, 0.99),
    baselineP99: quantile(b, 0.99),
    u: mw.u,
    z: mw.z,
    pValue: mw.pValue,
  };
  const ms = (x: number | null) => (x === null ? 'n/a' : formatValue('latencyP50', x));
  const medians = `${cl} median latency ${ms(cm)} vs ${bl} ${ms(bm)}`;
  const result = (verdict: JudgmentVerdict, message: string): CanaryJudgment => ({
    verdict,
    metric: 'latency',
    message,
    stats,
  });
  if (nb < minSample) return result('Continue', `${medians}: ${nb} of ${minSample} ${bl} requests needed`);
  if (nc < minSample) return result('Continue', `${medians}: ${nc} of ${minSample} ${cl} requests needed`);
  const p = formatNumber(mw.pValue);
  const increase = cm !== null && bm !== null ? cm - bm : 0;
  const slower = medianRatio !== null && medianRatio >= ratio && increase >= minIncrease;
  if (mw.pValue < alpha && slower)
    return result(
      'Worse',
      `${medians} (${Number(medianRatio.toFixed(2))}x): slower, Mann-Whitney p = ${p} < ${formatNumber(alpha)} over ${nc} ${cl} requests`,
    );
  if (nc >= 4 * minSample && medianRatio !== null && !slower)
    return result(
      'NotWorse',
      `${medians}: under ${ratio}x (or under ${minIncrease}ms above) the ${bl} over ${nc} ${cl} requests (p = ${p})`,
    );
  return result('Continue', `${medians}: no decision yet (p = ${p})`);
}

/** Both comparisons; a Worse on either decides. */
export function judgeCanary(
  candidate: readonly Point[],
  baseline: readonly Point[],
  options: CanaryJudgmentOptions = {},
): CanaryJudgment & { readonly parts: readonly CanaryJudgment[] } {
  const parts = [judgeErrorRate(candidate, baseline, options), judgeLatency(candidate, baseline, options)];
  const worse = parts.find((p) => p.verdict === 'Worse');
  if (worse) return { ...worse, parts };
  const pending = parts.find((p) => p.verdict === 'Continue');
  if (pending) return { ...pending, parts };
  return {
    verdict: 'NotWorse',
    metric: 'all',
    message: parts.map((p) => p.message).join('; '),
    stats: {},
    parts,
  };
}
