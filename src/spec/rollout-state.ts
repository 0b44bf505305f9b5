// The persisted state of one rollout (the journal the controller writes before it acts), and its
// schema: the store parses every rollout it reads with it, so the code that reads a state holds a
// checked RolloutState rather than a cast. Objects keep keys they do not know (a newer controller's
// fields survive an older one's write).
import { z } from 'zod';

export type StepName =
  | 'startRevision'
  | 'waitHealthy'
  | 'prePromotionChecks'
  | 'setWeight'
  | 'pause'
  | 'analysis'
  | 'switchTraffic'
  | 'bake'
  | 'verify'
  | 'migrateExpand'
  | 'migrateContract'
  | 'undoContract'
  | 'undoExpand';

export interface Step {
  readonly name: StepName;
  /** setWeight: share of traffic on the new revision, 0..100. */
  readonly weight?: number;
  /** pause, analysis: how long; null for a pause that waits for `promote`. */
  readonly durationMs?: number | null;
}

export type CompensationAction = 'stopRevision' | 'switchBack' | 'undoMigrations';

export interface Failure {
  readonly step: StepName;
  readonly reason: string;
  /** Last lines the revision printed, when they explain the failure. */
  readonly logs?: readonly string[];
}

/** What the previous revision did before the switch: sums over seconds from..to (inclusive). */
export interface BeforeSummary {
  readonly from: number;
  readonly to: number;
  readonly requests: number;
  readonly errors: number;
  /** Counts per latency bucket: this summary is kept in the rollout's state as it is (WatchMemory). */
  readonly latency: readonly number[];
  /**
   * The buckets' bounds, ms, when not the built-in proxy's: a summary kept before samples carried
   * their bounds has none, and was counted in the built-in proxy's.
   */
  readonly latencyBoundsMs?: readonly number[];
}

/** What the analysis must judge the same way after a controller restart. */
export interface WatchMemory {
  /** When traffic first reached the new revision, unix ms. */
  readonly since: number;
  /** The previous revision before that moment: the before/after judgment's reference. */
  readonly before: BeforeSummary | null;
}

/**
 * The watch after a deploy completed: the revision is stable, the previous one stays warm, and the
 * rules and the before/after judgment go on until `until`. A breach rolls back automatically.
 */
export interface PostDeployWatch {
  readonly until: number;
  readonly status: 'Watching' | 'Passed' | 'RolledBack' | 'Ended';
  readonly endedAt?: number;
  /** Why it ended: the breach that rolled back, or what superseded it. */
  readonly reason?: string;
}

/**
 * The verification of the revision a rollback restored: journalled `Pending` in the write that
 * ends the rollback, run by the loop once `dueAt` has come (a few seconds of traffic on the
 * restored revision), so that a controller killed meanwhile runs it after its restart.
 */
export interface RollbackVerification {
  /** Watching: the first verification passed and the watch after it runs until `until`. */
  readonly status: 'Pending' | 'Watching' | 'Passed' | 'Failed';
  /** The revision whose serving is verified. */
  readonly revision: number;
  readonly dueAt: number;
  readonly endedAt?: number;
  /** The watch (features/rollouts/rollback-watch.ts): when it began and ends. */
  readonly startedAt?: number;
  readonly until?: number;
  /** When the user's checks last ran during the watch. */
  readonly checkedAt?: number;
  /** Rules that had the traffic to judge at least once during the watch. */
  readonly judged?: readonly string[];
}

export interface RolloutState {
  readonly steps: readonly Step[];
  /** The step being run; equal to steps.length when all are done. */
  readonly index: number;
  readonly stepStartedAt: number | null;
  /** Share of traffic on the new revision, 0..100. */
  readonly weight: number;
  /** Migration level before the rollout's expand migrations ran; their compensation returns to it. */
  readonly levelBefore?: number;
  /** Paused by a person (rewind pause) or by a P2 breach; resume or promote continues. */
  readonly paused?: { readonly at: number; readonly reason: string } | null;
  /** A rollback journalled already switched (a warm target): when its table was put in force. */
  readonly switchedAt?: number;
  readonly analysis?: WatchMemory | null;
  /** Deploys only: set when the rollout completed. */
  readonly watch?: PostDeployWatch | null;
  /** Rollbacks only (a rollback, or a deploy rolled back): set when it ended. */
  readonly verification?: RollbackVerification | null;
  /**
   * The id of the rollback drill this rollout rehearses (features/drills): it opens no incident,
   * and its notifications and events say "drill".
   */
  readonly drill?: string;
  /** Set once a failure or an abort turned the rollout around. */
  readonly compensation: {
    /** Index of the next step to compensate, counting down; -1 when done. */
    readonly index: number;
    readonly failure: Failure;
    readonly outcome: 'Failed' | 'RolledBack';
  } | null;
}

const STEP_NAMES = [
  'startRevision',
  'waitHealthy',
  'prePromotionChecks',
  'setWeight',
  'pause',
  'analysis',
  'switchTraffic',
  'bake',
  'verify',
  'migrateExpand',
  'migrateContract',
  'undoContract',
  'undoExpand',
] as const satisfies readonly StepName[];

const stepSchema = z.looseObject({
  name: z.enum(STEP_NAMES),
  weight: z.number().optional(),
  durationMs: z.number().nullable().optional(),
});

const failureSchema = z.looseObject({
  step: z.enum(STEP_NAMES),
  reason: z.string(),
  logs: z.array(z.string()).optional(),
});

const beforeSummarySchema = z.looseObject({
  from: z.number(),
  to: z.number(),
  requests: z.number(),
  errors: z.number(),
  latency: z.array(z.number()),
  latencyBoundsMs: z.array(z.number()).optional(),
});

/** A rollout's state as the store holds it; parse() names the field that is wrong. */
export const rolloutStateSchema: z.ZodType<RolloutState> = z.looseObject({
  steps: z.array(stepSchema),
  index: z.number().int(),
  stepStartedAt: z.number().nullable(),
  weight: z.number(),
  levelBefore: z.number().optional(),
  paused: z.looseObject({ at: z.number(), reason: z.string() }).nullable().optional(),
  switchedAt: z.number().optional(),
  analysis: z
    .looseObject({ since: z.number(), before: beforeSummarySchema.nullable() })
    .nullable()
    .optional(),
  watch: z
    .looseObject({
      until: z.number(),
      status: z.enum(['Watching', 'Passed', 'RolledBack', 'Ended']),
      endedAt: z.number().optional(),
      reason: z.string().optional(),
    })
    .nullable()
    .optional(),
  verification: z
    .looseObject({
      status: z.enum(['Pending', 'Watching', 'Passed', 'Failed']),
      revision: z.number().int(),
      dueAt: z.number(),
      endedAt: z.number().optional(),
      startedAt: z.number().optional(),
      until: z.number().optional(),
      checkedAt: z.number().optional(),
      judged: z.array(z.string()).optional(),
    })
    .nullable()
    .optional(),
  drill: z.string().optional(),
  compensation: z
    .looseObject({
      index: z.number().int(),
      failure: failureSchema,
      outcome: z.enum(['Failed', 'RolledBack']),
    })
    .nullable(),
});
