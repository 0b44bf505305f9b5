// Watches a rollout while the new revision takes traffic: every analysis interval it reads the
// data plane's per-second counters of both revisions, adds what the health monitor sees, and asks
// the pure analysis functions for a decision (seed 004's matrix, and the canary judgment while
// both revisions serve side by side).
import type { Instance } from '../../providers/runtimes/types.ts';
import type { MetricsBucket } from '../../proxy/types.ts';
import {
  assessRule,
  type Decision,
  decideAction,
  judgeCanary,
  type Point,
  pointsFromBuckets,
  requiredHistorySeconds,
  resolveRules,
  SeriesBuffer,
} from '../analysis/index.ts';
import type { InstanceHealth } from '../health/health-monitor.ts';
import type { AppContext } from './app-context.ts';
import type { RolloutState } from './rollout-state.ts';

interface Watched {
  readonly candidate: SeriesBuffer;
  readonly baseline: SeriesBuffer;
  /** Next second to read from the data plane. */
  nextSecond: number;
  lastEvaluation: number;
  readonly notified: Set<string>;
  /** When traffic first reached the candidate (the judgment looks at nothing older). */
  since: number | null;
}

export interface WatchInput {
  readonly ctx: AppContext;
  readonly rolloutId: string;
  readonly state: RolloutState;
  /** Processes of the candidate and of the baseline (their units). */
  readonly candidate: { readonly revision: number; readonly unit: number };
  readonly baseline: { readonly revision: number; readonly unit: number } | null;
  readonly instances: readonly Instance[];
  readonly health: (instanceId: string) => InstanceHealth;
  readonly now: number;
}

export interface WatchResult {
  readonly decision: Decision;
  /** For the journal: what the last evaluation found, in one line. */
  readonly summary: string;
}

export class RolloutWatch {
  readonly #watched = new Map<string, Watched>();
  readonly #metrics: (app: string, sinceSecond: number) => Promise<MetricsBucket[]>;

  constructor(metrics: (app: string, sinceSecond: number) => Promise<MetricsBucket[]>) {
    this.#metrics = metrics;
  }

  forget(rolloutId: string): void {
    this.#watched.delete(rolloutId);
  }

  /**
   * After a kill switch: judge afresh on what the revision does from now on. Series, windows and
   * the judgment start again; what was already notified (the switch itself) stays notified.
   */
  restart(rolloutId: string, now: number): void {
    const w = this.#watched.get(rolloutId);
    if (!w) return;
    this.#watched.set(rolloutId, {
      candidate: new SeriesBuffer(w.candidate.capacity),
      baseline: w.baseline,
      nextSecond: Math.floor(now / 1000) + 1,
      lastEvaluation: now,
      notified: w.notified,
      since: w.since === null ? null : now,
    });
  }

  /** Record that a notification for this breach went out, so it is sent once. */
  notified(rolloutId: string, key: string): void {
    this.#watched.get(rolloutId)?.notified.add(key);
  }

  /** A decision when an evaluation was due, null otherwise. */
  async evaluate(input: WatchInput): Promise<WatchResult | null> {
    const { ctx, now } = input;
    const spec = ctx.spec.analysis;
    let w = this.#watched.get(input.rolloutId);
    if (!w) {
      const seconds = requiredHistorySeconds(spec);
      w = {
        candidate: new SeriesBuffer(seconds),
        baseline: new SeriesBuffer(seconds),
        // The baseline's recent past is the reference for relative rules after a full switch.
        nextSecond: Math.floor(now / 1000) - 60,
        lastEvaluation: 0,
        notified: new Set(),
        since: null,
      };
      this.#watched.set(input.rolloutId, w);
    }
    if (now - w.lastEvaluation < spec.interval) return null;
    w.lastEvaluation = now;
    if (input.state.weight > 0 && w.since === null) w.since = now;

    const flags = (unit: number) => {
      const mine = input.instances.filter((i) => i.revision === unit && i.phase !== 'Stopped');
      const serving = mine.filter((i) => i.phase === 'Running' && input.health(i.id) !== 'Unhealthy');
      return {
        healthFailing: mine.some((i) => input.health(i.id) === 'Unhealthy' || i.phase === 'Failed'),
        unavailable: serving.length === 0,
      };
    };
    const candidateFlags = flags(input.candidate.unit);
    const baselineFlags = input.baseline ? flags(input.baseline.unit) : null;
    const buckets = await this.#metrics(ctx.spec.name, w.nextSecond).catch(() => []);
    const revisions = [input.candidate.revision, ...(input.baseline ? [input.baseline.revision] : [])];
    const current = Math.floor(now / 1000);
    const points = pointsFromBuckets(buckets, {
      revisions,
      // Health is observed now; it stands for the seconds read in this evaluation.
      health: (revision, second) =>
        second >= current - Math.ceil(spec.interval / 1000) - 1
          ? revision === input.candidate.revision
            ? candidateFlags
            : (baselineFlags ?? undefined)
          : undefined,
    });
    w.candidate.appendAll(points.get(input.candidate.revision) ?? []);
    if (input.baseline) w.baseline.appendAll(points.get(input.baseline.revision) ?? []);
    const last = buckets.reduce((m, b) => Math.max(m, b.second), w.nextSecond - 1);
    w.nextSecond = last + 1;

    const candidate: readonly Point[] = w.candidate.points();
    const baseline: readonly Point[] = w.baseline.points();
    const verdicts = resolveRules(spec).map((rule) =>
      assessRule(rule, candidate, baseline.length ? baseline : null, now, { interval: spec.interval }),
    );
    // Side by side only while both serve: after a full switch the baseline has no live traffic.
    const sideBySide = input.state.weight > 0 && input.state.weight < 100 && input.baseline !== null;
    const judgment =
      spec.canaryJudgment.enabled && sideBySide
        ? judgeCanary(candidate, baseline, {
            confidence: spec.canaryJudgment.confidence,
            minSample: spec.canaryJudgment.minSample,
            since: w.since ?? now,
            now,
          })
        : null;
    const decision = decideAction({
      now,
      verdicts,
      judgment,
      monitoringWindow: spec.monitoringWindow,
      notified: w.notified,
    });
    const summary = [
      judgment ? `judgment ${judgment.verdict}` : null,
      ...verdicts.map((v) => `${v.rule.name} ${v.phase}`),
    ]
      .filter(Boolean)
      .join(', ');
    return { decision, summary };
  }
}
