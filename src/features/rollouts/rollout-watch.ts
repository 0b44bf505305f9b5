// Watches a rollout while the new revision takes traffic: every analysis interval it reads the
// data plane's per-second counters of both revisions, adds what the health monitor sees, and asks
// the pure analysis functions for a decision (seed 004's matrix, and the canary judgment while
// both revisions serve side by side). The series it judges on are persisted with the rollout,
// once per evaluation, so that a restarted controller resumes its windows and judgment with the
// same evidence; the data plane's own two minutes fill in the seconds the controller was down.

import type { InstanceHealth } from '../../providers/health-source.ts';
import type { MetricsSource } from '../../providers/metrics-source.ts';
import type { Instance, Runtime } from '../../providers/runtime.ts';
import type { Logger } from '../../shared/logger.ts';
import type { AnalysisSecond, Store } from '../../store/types.ts';
import {
  addUsage,
  assessRule,
  BEFORE_SECONDS,
  type BeforeSummary,
  type CanaryJudgment,
  crashVerdicts,
  type Decision,
  decideAction,
  type HealthState,
  judgeBeforeAfter,
  judgeCanary,
  type Point,
  pointFromJson,
  pointsFromSamples,
  pointToJson,
  RESOURCE_METRICS,
  type Rule,
  type RuleVerdict,
  referencePoints,
  requiredHistorySeconds,
  resolveRules,
  restartCounts,
  SeriesBuffer,
  serviceDownVerdicts,
  summarizeBefore,
  UNKNOWN_HEALTH,
  type UsagePoint,
  usageByRevision,
} from '../analysis/index.ts';
import type { AppContext } from './app-context.ts';
import type { WatchMemory } from './rollout-state.ts';

interface Watched {
  readonly candidateRevision: number;
  readonly baselineRevision: number | null;
  readonly candidate: SeriesBuffer;
  readonly baseline: SeriesBuffer;
  /** The newest second restored from the store: health after it went unseen until now. */
  restoredUntil: number | null;
  /** Next second to read from the data plane. */
  nextSecond: number;
  /** Next second to read from the runtime's usage (when a rule judges CPU, memory or error lines). */
  nextUsageSecond: number;
  lastEvaluation: number;
  readonly notified: Set<string>;
  /** When traffic first reached the candidate (the judgment looks at nothing older). */
  since: number | null;
  /** The previous revision before `since`: the before/after judgment's reference. */
  before: BeforeSummary | null;
  latest: WatchResult | null;
  /** The candidate's restart counts at its first evaluation: crashes count from there. */
  restarts: ReadonlyMap<string, number> | null;
}

export interface WatchInput {
  readonly ctx: AppContext;
  readonly rolloutId: string;
  /** The candidate's share of traffic, 0..100 (100 once switched, and for the stable revision). */
  readonly weight: number;
  /** Processes of the candidate and of the baseline (their units). */
  readonly candidate: { readonly revision: number; readonly unit: number };
  readonly baseline: { readonly revision: number; readonly unit: number } | null;
  readonly instances: readonly Instance[];
  readonly health: (instanceId: string) => InstanceHealth;
  readonly now: number;
  /** What an earlier controller recorded (from the rollout's state), if anything. */
  readonly memory?: WatchMemory | null;
  /** The rules to judge; default: the app's (resolveRules). The steady-state watch passes its own. */
  readonly rules?: readonly Rule[];
  /**
   * For a release under analysis, when its rollout began (unix ms): a crash of the candidate's
   * instances from then on is a P0 breach (serviceDown.crashes). Absent for the steady-state
   * watch, which judges rules alone: the runtime restarts a stable process that crashed.
   */
  readonly startedAt?: number;
  /**
   * The app's runtime: when a rule judges cpu, memory or logErrors, its usage is read with the
   * traffic (a runtime without `usage` leaves those rules Inconclusive).
   */
  readonly runtime?: Pick<Runtime, 'usage'>;
}

export interface WatchResult {
  readonly decision: Decision;
  /** For the journal: what the last evaluation found, in one line. */
  readonly summary: string;
  /** The judgment's verdict so far (canary or before/after), null when none applies. */
  readonly judgment: CanaryJudgment | null;
  /** Each rule's phase and message. */
  readonly rules: readonly { readonly name: string; readonly phase: string; readonly message: string }[];
  readonly at: number;
  /** Set once, when the reference was taken: record it so that a restart judges the same way. */
  readonly remember?: WatchMemory;
}

/** Where the series are persisted with their rollout (the store's analysis table). */
export type SeriesStore = Store['analysis'];

export class RolloutWatch {
  readonly #watched = new Map<string, Watched>();
  readonly #metrics: MetricsSource;
  readonly #series: SeriesStore | null;
  readonly #log: Logger | null;
  /** Rollouts whose persisted series this process dropped already (forget runs on every tick of some). */
  readonly #dropped = new Set<string>();

  constructor(
    metrics: MetricsSource,
    options: { readonly series?: SeriesStore; readonly log?: Logger } = {},
  ) {
    this.#metrics = metrics;
    this.#series = options.series ?? null;
    this.#log = options.log ?? null;
  }

  /** The rollout's analysis is over: its memory and its persisted series go. */
  forget(rolloutId: string): void {
    this.#watched.delete(rolloutId);
    if (this.#series === null || this.#dropped.has(rolloutId)) return;
    this.#dropped.add(rolloutId);
    this.#series
      .drop(rolloutId)
      .catch((err) => this.#log?.warn({ err, rollout: rolloutId }, 'could not drop the analysis series'));
  }

  /**
   * After a kill switch: judge afresh on what the revision does from now on. Series, windows and
   * the judgment start again; what was already notified (the switch itself) stays notified.
   */
  restart(rolloutId: string, now: number): void {
    const w = this.#watched.get(rolloutId);
    if (!w) return;
    this.#series
      ?.drop(rolloutId, w.candidateRevision)
      .catch((err) => this.#log?.warn({ err, rollout: rolloutId }, 'could not drop the analysis series'));
    this.#watched.set(rolloutId, {
      candidateRevision: w.candidateRevision,
      baselineRevision: w.baselineRevision,
      candidate: new SeriesBuffer(w.candidate.capacity),
      baseline: w.baseline,
      restoredUntil: null,
      nextSecond: Math.floor(now / 1000) + 1,
      nextUsageSecond: Math.floor(now / 1000) + 1,
      lastEvaluation: now,
      notified: w.notified,
      since: w.since === null ? null : now,
      before: w.before,
      latest: w.latest,
      restarts: w.restarts,
    });
  }

  /** Whether an evaluation of this rollout is due at `now` (one per `interval` ms). */
  due(rolloutId: string, now: number, interval: number): boolean {
    const w = this.#watched.get(rolloutId);
    return !w || evaluationDue(w.lastEvaluation, now, interval);
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
      const seconds = Math.max(requiredHistorySeconds(spec), BEFORE_SECONDS + 10);
      const memory = input.memory ?? null;
      w = {
        candidateRevision: input.candidate.revision,
        baselineRevision: input.baseline?.revision ?? null,
        candidate: new SeriesBuffer(seconds),
        baseline: new SeriesBuffer(seconds),
        restoredUntil: null,
        // The baseline's recent past is the reference for relative rules and the before/after
        // judgment; the data plane keeps about two minutes.
        nextSecond: Math.floor(now / 1000) - BEFORE_SECONDS - 2,
        nextUsageSecond: Math.floor(now / 1000) - BEFORE_SECONDS - 2,
        lastEvaluation: 0,
        notified: new Set(),
        since: memory?.since ?? null,
        before: memory?.before ?? null,
        latest: null,
        restarts: null,
      };
      this.#watched.set(input.rolloutId, w);
      this.#dropped.delete(input.rolloutId);
      await this.#restore(input.rolloutId, w);
    }
    if (!evaluationDue(w.lastEvaluation, now, spec.interval)) return null;
    w.lastEvaluation = now;
    let remember: WatchMemory | undefined;
    const firstTraffic = input.weight > 0 && w.since === null;
    if (firstTraffic) w.since = now;

    const flags = (unit: number): HealthState => {
      const mine = input.instances.filter((i) => i.revision === unit && i.phase !== 'Stopped');
      const serving = mine.filter((i) => i.phase === 'Running' && input.health(i.id) !== 'Unhealthy');
      // A health monitor that has not probed yet (a controller just restarted) saw nothing: a
      // breach that held before the restart is neither ended nor extended by it.
      if (mine.length > 0 && mine.every((i) => i.phase === 'Running' && input.health(i.id) === 'Unknown'))
        return UNKNOWN_HEALTH;
      return {
        healthFailing: mine.some((i) => input.health(i.id) === 'Unhealthy' || i.phase === 'Failed'),
        unavailable: serving.length === 0,
      };
    };
    const baselineFlags = input.baseline ? flags(input.baseline.unit) : null;
    // No revision serving at all (the agent died and is starting them again, the host is
    // overloaded) is an outage of the app, not evidence against the candidate: the candidate is
    // unavailable only while the baseline serves. Failing health checks still count.
    const candidateFlags =
      baselineFlags?.unavailable === true
        ? { ...flags(input.candidate.unit), unavailable: false }
        : flags(input.candidate.unit);
    // A failed read is no seconds: they are read again next time (nextSecond stays), and the
    // data plane keeps two minutes of them.
    const { samples } = await this.#metrics.read(ctx.spec.name, w.nextSecond);
    const revisions = [input.candidate.revision, ...(input.baseline ? [input.baseline.revision] : [])];
    const current = Math.floor(now / 1000);
    const observedFrom = current - Math.ceil(spec.interval / 1000) - 1;
    const watched = w;
    const points = pointsFromSamples(samples, {
      revisions,
      health: (revision, second): HealthState | undefined => {
        // Health is observed now; it stands for the seconds read in this evaluation.
        if (second >= observedFrom)
          return revision === input.candidate.revision ? candidateFlags : (baselineFlags ?? undefined);
        // A second read again after a restart keeps the health seen then; one that no controller
        // saw (it was down) is unknown, not healthy.
        const buffer = revision === input.candidate.revision ? watched.candidate : watched.baseline;
        const held = buffer.at(second);
        if (held) return held.healthUnknown ? UNKNOWN_HEALTH : held;
        return watched.restoredUntil !== null && second > watched.restoredUntil ? UNKNOWN_HEALTH : undefined;
      },
    });
    const rules = input.rules ?? resolveRules(spec);
    if (rules.some((r) => RESOURCE_METRICS.includes(r.metric))) await this.#addUsage(input, w, points);
    w.candidate.appendAll(points.get(input.candidate.revision) ?? []);
    if (input.baseline) w.baseline.appendAll(points.get(input.baseline.revision) ?? []);
    const last = samples.reduce((m, b) => Math.max(m, b.second), w.nextSecond - 1);
    w.nextSecond = last + 1;
    await this.#persist(input.rolloutId, w, points);
    if (firstTraffic && w.since !== null) {
      // The reference of the before/after judgment: what the previous revision did until now.
      w.before = input.baseline ? summarizeBefore(w.baseline.points(), Math.floor(w.since / 1000)) : null;
      remember = { since: w.since, before: w.before };
    }

    const candidate: readonly Point[] = w.candidate.points();
    let baseline: readonly Point[] = w.baseline.points();
    if (input.weight === 100 && w.before && w.since !== null) {
      // All traffic on the release: the baseline of relative rules is the minutes before the switch.
      const switchSecond = Math.floor(w.since / 1000);
      baseline = [
        ...w.baseline.points(Number.NEGATIVE_INFINITY, switchSecond - 1),
        ...referencePoints(w.before, switchSecond, current),
      ];
    }
    let crashes: RuleVerdict[] = [];
    if (input.startedAt !== undefined && spec.serviceDown.enabled && spec.serviceDown.crashes) {
      const lives = input.instances.filter((i) => i.revision === input.candidate.unit);
      w.restarts ??= restartCounts(lives);
      crashes = crashVerdicts(lives, w.restarts, now, input.startedAt);
    }
    const verdicts = [
      ...crashes,
      ...serviceDownVerdicts(rules, candidate, now, spec.serviceDown),
      ...rules.map((rule) =>
        assessRule(rule, candidate, baseline.length ? baseline : null, now, { interval: spec.interval }),
      ),
    ];
    // Side by side while both serve; after a full switch the release is compared with what the
    // previous revision did before it.
    const sideBySide = input.weight > 0 && input.weight < 100 && input.baseline !== null;
    const judged = { confidence: spec.canaryJudgment.confidence, minSample: spec.canaryJudgment.minSample };
    let judgment: CanaryJudgment | null = null;
    if (spec.canaryJudgment.enabled && sideBySide)
      judgment = judgeCanary(candidate, baseline, { ...judged, since: w.since ?? now, now });
    else if (spec.beforeAfter.enabled && input.weight === 100 && input.baseline !== null && w.since !== null)
      judgment = judgeBeforeAfter(w.before, candidate, {
        ...judged,
        minBefore: spec.beforeAfter.minBefore,
        maxBeforeAge: spec.beforeAfter.maxBeforeAge,
        latencyWarmup: spec.beforeAfter.latencyWarmup,
        latencyFor: spec.beforeAfter.latencyFor,
        since: w.since,
        now,
      });
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
    const result: WatchResult = {
      decision,
      summary,
      judgment,
      rules: verdicts.map((v) => ({ name: v.rule.name, phase: v.phase, message: v.message })),
      at: now,
      ...(remember ? { remember } : {}),
    };
    w.latest = result;
    return result;
  }

  /**
   * Adds to the seconds just read what the runtime measured of both revisions (their units'
   * instances), and the seconds it measured with no traffic read yet. Traffic read again for a
   * second keeps the usage the series holds. A failed read adds nothing: it is read again next time.
   */
  async #addUsage(input: WatchInput, w: Watched, points: Map<number, Point[]>): Promise<void> {
    const units = new Map([[input.candidate.unit, input.candidate.revision]]);
    if (input.baseline) units.set(input.baseline.unit, input.baseline.revision);
    const read = await input.runtime?.usage?.(input.ctx.spec.name, {
      sinceSecond: w.nextUsageSecond,
      errorPattern: input.ctx.spec.logs.errorPattern,
    });
    const usage = read ? usageByRevision(read, units) : new Map<number, UsagePoint[]>();
    for (const revision of units.values()) {
      const buffer = revision === w.candidateRevision ? w.candidate : w.baseline;
      const merged = addUsage(points.get(revision) ?? [], usage.get(revision) ?? [], (s) => buffer.at(s));
      if (merged.length > 0) points.set(revision, merged);
    }
    if (read?.phase === 'Successful')
      w.nextUsageSecond = read.samples.reduce((m, x) => Math.max(m, x.second + 1), w.nextUsageSecond);
  }

  /**
   * Loads what an earlier controller persisted of this rollout's series. The data plane's
   * buckets, read next, replace the counters of the seconds it still holds (and add the seconds
   * the controller was down); health and the older seconds come from here.
   */
  async #restore(rolloutId: string, w: Watched): Promise<void> {
    if (!this.#series) return;
    let held: AnalysisSecond[];
    try {
      held = await this.#series.load(rolloutId);
    } catch (err) {
      this.#log?.warn({ err, rollout: rolloutId }, 'could not load the analysis series; judging afresh');
      return;
    }
    for (const row of held) {
      const point = pointFromJson(row.second, row.data);
      if (!point) continue;
      if (row.revision === w.candidateRevision) w.candidate.append(point);
      else if (row.revision === w.baselineRevision) w.baseline.append(point);
      else continue;
      w.restoredUntil = Math.max(w.restoredUntil ?? point.second, point.second);
    }
    if (w.restoredUntil !== null)
      this.#log?.info(
        { rollout: rolloutId, seconds: w.candidate.size + w.baseline.size, until: w.restoredUntil },
        'resumed the analysis series',
      );
  }

  /** One write per evaluation: the seconds just read, and the series bounded to its capacity. */
  async #persist(rolloutId: string, w: Watched, points: Map<number, Point[]>): Promise<void> {
    if (!this.#series) return;
    const rows: AnalysisSecond[] = [];
    let newest = Number.NEGATIVE_INFINITY;
    for (const [revision, list] of points) {
      if (revision !== w.candidateRevision && revision !== w.baselineRevision) continue;
      for (const p of list) {
        rows.push({ revision, second: p.second, data: pointToJson(p) });
        if (p.second > newest) newest = p.second;
      }
    }
    if (rows.length === 0) return;
    try {
      await this.#series.record(rolloutId, rows, newest - w.candidate.capacity + 1);
    } catch (err) {
      // The analysis goes on from memory; only a restart would lose what this write held.
      this.#log?.warn({ err, rollout: rolloutId }, 'could not persist the analysis series');
    }
  }

  /** The last evaluation of a rollout (its rollout or its post-deploy watch), if any in this process. */
  latest(rolloutId: string): WatchResult | null {
    return this.#watched.get(rolloutId)?.latest ?? null;
  }
}

/**
 * One evaluation per interval, in the first tick after each multiple of the interval on the
 * clock: the data plane's per-second counters close on the clock's seconds, so a second is judged
 * about a tick after it ends, rather than up to an interval later when the evaluations drift out
 * of phase with the seconds.
 */
export function evaluationDue(lastEvaluation: number, now: number, interval: number): boolean {
  return Math.floor(now / interval) > Math.floor(lastEvaluation / interval);
}
