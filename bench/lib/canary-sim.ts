// Simulated per-second traffic of a canary beside its stable revision, replayed through the
// controller's own analysis: the RolloutWatch of src/features/rollouts/rollout-watch.ts (which calls
// pointsFromSamples, SeriesBuffer, assessRule with the default rules, judgeCanary and decideAction)
// is fed these buckets through its metrics function and evaluated every simulated interval, as the
// rollout driver does on its 100 ms reconcile tick. Used by bench/false-alarms.ts,
// bench/judge-compare.ts and bench/controller-scale.ts.

import { type AnalysisSpec, analysisSpecSchema, type Rule } from '../../src/features/analysis/index.ts';
import type { AppContext } from '../../src/features/rollouts/app-context.ts';
import type { RolloutState } from '../../src/features/rollouts/rollout-state.ts';
import {
  RolloutWatch,
  type SeriesStore,
  type WatchResult,
} from '../../src/features/rollouts/rollout-watch.ts';
import { BuiltinMetricsSource } from '../../src/providers/builtin/metrics/builtin-metrics-source.ts';
import { latencyBucket } from '../../src/providers/builtin/proxy/shared.ts';
import {
  LATENCY_BOUNDS_MS,
  type MetricsBucket,
  type RevisionCounters,
} from '../../src/providers/builtin/proxy/types.ts';
import type { InstanceHealth } from '../../src/providers/health-source.ts';
import type { Instance } from '../../src/providers/runtime.ts';
import { prng } from '../../test/support/analysis-fixtures.ts';

export const STABLE_REVISION = 1;
export const CANARY_REVISION = 2;

/** How one revision behaves: error share, and a log-normal latency (median, sigma of its log). */
export interface Behaviour {
  readonly errorRate: number;
  readonly latencyMedianMs: number;
  readonly latencySigma: number;
  /** A fresh process warming up: its latency is this many times higher for the first seconds. */
  readonly coldStart?: { readonly seconds: number; readonly latencyFactor: number };
}

export interface TrafficModel {
  /** Requests per second on the app (Poisson). */
  readonly rps: number;
  /** Share of requests sent to the canary, 0..100. */
  readonly weight: number;
  readonly stable: Behaviour;
  readonly canary: Behaviour;
}

/** A service doing some work: 10 ms median (as bench/detection.ts sets up the shop), 0.5% errors. */
export const STABLE: Behaviour = { errorRate: 0.005, latencyMedianMs: 10, latencySigma: 0.5 };

function poisson(random: () => number, mean: number): number {
  if (mean <= 0) return 0;
  if (mean > 60) {
    // Normal approximation (Box-Muller): exact enough at hundreds of requests per second.
    const u = Math.max(random(), 1e-12);
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * z));
  }
  const l = Math.exp(-mean);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= random();
  } while (p > l);
  return k - 1;
}

function counters(revision: number): RevisionCounters & { requests: number; errors5xx: number } {
  return {
    revision,
    requests: 0,
    errors5xx: 0,
    connectFailures: 0,
    latency: new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0),
  };
}

/**
 * The data plane of one simulated app: per-second buckets of the stable revision and, from
 * `canaryStart` (unix ms) on, of the canary at the model's weight. Request by request: each is
 * routed, fails with its revision's error rate, and gets a latency.
 */
export class SimulatedTraffic {
  readonly model: TrafficModel;
  readonly canaryStart: number;
  readonly #random: () => number;
  readonly #buckets = new Map<number, MetricsBucket>();
  /** Canary traffic ends (rolled back) from this unix ms on. */
  canaryEnd = Number.POSITIVE_INFINITY;

  /** When set, only this many distinct canary seconds are generated and then repeated (cheap, for scale tests). */
  readonly #pool: number | null;

  constructor(model: TrafficModel, canaryStart: number, seed: number, options: { pool?: number } = {}) {
    this.model = model;
    this.canaryStart = canaryStart;
    this.#random = prng(seed);
    this.#pool = options.pool ?? null;
  }

  bucket(second: number): MetricsBucket {
    const found = this.#buckets.get(second);
    if (found) return found;
    const first = Math.ceil(this.canaryStart / 1000);
    if (this.#pool !== null && second >= first + this.#pool) {
      const source = this.bucket(first + ((second - first) % this.#pool));
      const copy = { second, revisions: source.revisions };
      this.#buckets.set(second, copy);
      return copy;
    }
    const random = this.#random;
    const { model } = this;
    const stable = counters(STABLE_REVISION);
    const canary = counters(CANARY_REVISION);
    const n = poisson(random, model.rps);
    const start = second * 1000;
    const gauss = () =>
      Math.sqrt(-2 * Math.log(Math.max(random(), 1e-12))) * Math.cos(2 * Math.PI * random());
    for (let i = 0; i < n; i++) {
      const at = start + random() * 1000;
      const toCanary = at >= this.canaryStart && at < this.canaryEnd && random() * 100 < model.weight;
      const c = toCanary ? canary : stable;
      const b = toCanary ? model.canary : model.stable;
      c.requests++;
      if (random() < b.errorRate) c.errors5xx++;
      const cold = toCanary && b.coldStart && at < this.canaryStart + b.coldStart.seconds * 1000;
      const ms =
        b.latencyMedianMs * (cold ? b.coldStart!.latencyFactor : 1) * Math.exp(b.latencySigma * gauss());
      (c.latency as number[])[latencyBucket(ms)]!++;
    }
    const revisions = canary.requests > 0 ? [stable, canary] : [stable];
    const bucket = { second, revisions };
    this.#buckets.set(second, bucket);
    return bucket;
  }

  /** What DataPlane.metrics answers at `now`: buckets from sinceSecond to the last complete second. */
  metrics(sinceSecond: number, now: number): MetricsBucket[] {
    const out: MetricsBucket[] = [];
    const last = Math.floor(now / 1000) - 1;
    for (let s = Math.max(sinceSecond, Math.floor(this.canaryStart / 1000) - 120); s <= last; s++)
      out.push(this.bucket(s));
    return out;
  }

  /** Per-revision counts of one second (for the Flagger- and Argo-style checks). */
  counts(second: number): { stable: RevisionCounters; canary: RevisionCounters | null } {
    const b = this.bucket(second);
    return {
      stable: b.revisions.find((r) => r.revision === STABLE_REVISION)!,
      canary: b.revisions.find((r) => r.revision === CANARY_REVISION) ?? null,
    };
  }
}

/** The app's `analysis:` block with nothing declared: seed default rules, judgment on. */
export function defaultAnalysis(): AnalysisSpec {
  return analysisSpecSchema.parse({});
}

const INSTANCES: Instance[] = [STABLE_REVISION, CANARY_REVISION].map((revision) => ({
  id: `shop/${revision}/0`,
  app: 'shop',
  revision,
  index: 0,
  phase: 'Running',
  pid: null,
  port: 0,
  address: { host: '127.0.0.1', port: 0 },
  restarts: 0,
  startedAt: 0,
  lastExit: null,
  reason: null,
}));

/**
 * One simulated rollout under watch: the controller's RolloutWatch with a metrics function that
 * reads the simulated data plane. `evaluate(now)` is what the driver calls on each tick.
 */
export class SimulatedRollout {
  readonly traffic: SimulatedTraffic;
  readonly watch: RolloutWatch;
  readonly ctx: AppContext;
  readonly state: RolloutState;
  readonly id: string;
  #now = 0;

  /** Set: the revision is judged alone by these rules, as the watch after a rollback does. */
  readonly #alone: readonly Rule[] | undefined;

  /**
   * `series`: persist the watch's series there (the rollout `id` must exist in that store).
   * `alone`: judge the canary's revision alone (no baseline) with these rules.
   */
  constructor(
    traffic: SimulatedTraffic,
    spec: AnalysisSpec = defaultAnalysis(),
    id = 'sim',
    series?: SeriesStore,
    alone?: readonly Rule[],
  ) {
    this.#alone = alone;
    this.traffic = traffic;
    this.id = id;
    this.watch = new RolloutWatch(
      new BuiltinMetricsSource(async (_app, since) => this.traffic.metrics(since, this.#now)),
      series ? { series } : {},
    );
    this.ctx = { spec: { name: 'shop', analysis: spec } } as unknown as AppContext;
    this.state = { weight: traffic.model.weight } as unknown as RolloutState;
  }

  evaluate(now: number): Promise<WatchResult | null> {
    this.#now = now;
    return this.watch.evaluate({
      ctx: this.ctx,
      rolloutId: this.id,
      weight: this.state.weight,
      candidate: { revision: CANARY_REVISION, unit: CANARY_REVISION },
      baseline: this.#alone ? null : { revision: STABLE_REVISION, unit: STABLE_REVISION },
      instances: INSTANCES,
      health: (): InstanceHealth => 'Healthy',
      now,
      ...(this.#alone && { rules: this.#alone }),
    });
  }
}

export interface ReplayResult {
  /** ms from the canary's first traffic to the rollback decision; null: none within the horizon. */
  readonly decidedAfterMs: number | null;
  readonly action: string;
  readonly reason: string;
  readonly summary: string;
  /** Canary requests and failed canary requests served until the decision (or the horizon). */
  readonly canaryRequests: number;
  readonly canaryFailed: number;
  readonly evaluations: number;
  /** What decided: `judgment/errorRate`, `judgment/latency`, or the rule's name. */
  readonly trigger: string | null;
  /** The simulated data plane, to replay other analyses on the very same seconds. */
  readonly traffic: SimulatedTraffic;
}

/** Canary requests and failed ones in the seconds from the canary's start up to `end` (unix ms). */
export function canaryServed(traffic: SimulatedTraffic, end: number): { requests: number; failed: number } {
  let requests = 0;
  let failed = 0;
  for (let s = Math.floor(traffic.canaryStart / 1000); s < Math.floor(end / 1000); s++) {
    const c = traffic.counts(s).canary;
    if (c) {
      requests += c.requests;
      failed += c.errors5xx + c.connectFailures;
    }
  }
  return { requests, failed };
}

/**
 * Replays a canary held at its weight for `horizonMs` and returns the first rollback (or pause)
 * decision. The driver evaluates on the first tick after traffic reaches the canary (~100 ms) and
 * then whenever an interval has passed since the last evaluation; ticks are 100 ms apart.
 */
export async function replay(
  model: TrafficModel,
  options: { seed: number; horizonMs: number; spec?: AnalysisSpec; startSecond?: number },
): Promise<ReplayResult> {
  const random = prng(options.seed ^ 0x9e3779b9);
  const startSecond = options.startSecond ?? 1_700_000_000;
  const canaryStart = startSecond * 1000 + Math.floor(random() * 1000);
  const traffic = new SimulatedTraffic(model, canaryStart, options.seed);
  const spec = options.spec ?? defaultAnalysis();
  const sim = new SimulatedRollout(traffic, spec);
  const tick = 100;
  let evaluations = 0;
  let last = Number.NEGATIVE_INFINITY;
  let decision: WatchResult | null = null;
  let decidedAt: number | null = null;
  for (let now = canaryStart + tick; now <= canaryStart + options.horizonMs; now += tick) {
    if (now - last < spec.interval) continue;
    last = now;
    const result = await sim.evaluate(now);
    evaluations++;
    if (result && result.decision.action !== 'none' && result.decision.action !== 'notify') {
      decision = result;
      decidedAt = now;
      break;
    }
  }
  const end = decidedAt ?? canaryStart + options.horizonMs;
  const served = canaryServed(traffic, end);
  const verdict = decision?.decision.verdict;
  const trigger =
    verdict == null ? null : 'rule' in verdict ? verdict.rule.name : `judgment/${verdict.metric}`;
  return {
    decidedAfterMs: decidedAt === null ? null : decidedAt - canaryStart,
    action: decision?.decision.action ?? 'none',
    reason: decision?.decision.reason ?? '',
    summary: decision?.summary ?? '',
    canaryRequests: served.requests,
    canaryFailed: served.failed,
    evaluations,
    trigger,
    traffic,
  };
}
