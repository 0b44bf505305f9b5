// The persisted state machine of one rollout, and the pure decisions of what to do next.

import type { CompensationAction, Failure, RolloutState, Step, StepName } from '../../spec/rollout-state.ts';
import type { CanaryStepSpec } from '../../spec/strategy-spec.ts';
import type { RolloutKind, RolloutPhase } from '../../store/types.ts';

export type {
  CompensationAction,
  Failure,
  PostDeployWatch,
  RollbackVerification,
  RolloutState,
  Step,
  StepName,
  WatchMemory,
} from '../../spec/rollout-state.ts';

/**
 * Steps that change something outside and how each is undone. Steps absent here only observe,
 * or (migrateContract, undo*) leave the database as it was when they fail: a migration that fails
 * is undone by its own transaction or, on MySQL, statement by statement.
 */
export const COMPENSATIONS: Partial<Record<StepName, CompensationAction>> = {
  migrateExpand: 'undoMigrations',
  startRevision: 'stopRevision',
  setWeight: 'switchBack',
  switchTraffic: 'switchBack',
};

export type NextStep =
  | { readonly type: 'run'; readonly step: Step; readonly phase: RolloutPhase }
  | { readonly type: 'wait'; readonly phase: 'Paused' }
  | { readonly type: 'compensate'; readonly step: Step; readonly action: CompensationAction }
  | { readonly type: 'finish'; readonly phase: 'Completed' | 'Failed' | 'RolledBack' };

const step = (name: StepName, extra: Omit<Step, 'name'> = {}): Step => ({ name, ...extra });

/**
 * The steps of a rollout. With a database, expand migrations run before the new revision starts
 * and contract migrations after the bake (or on `rewind db contract` when `contract` is manual).
 * A rollback undoes contract migrations before traffic moves (the old revision may need what they
 * removed) and expand migrations after (the old revision ignores what they added).
 */
export function planSteps(
  kind: RolloutKind,
  options: {
    readonly targetWarm: boolean;
    readonly fromNothing: boolean;
    readonly canary?: readonly CanaryStepSpec[];
    /** `undo: false` (a rollback): the target is at the stable revision's migration level, nothing to undo. */
    readonly database?: { readonly contract: 'auto' | 'manual'; readonly undo?: boolean };
  },
): Step[] {
  const db = options.database;
  if (kind === 'rollback') {
    const undo = db !== undefined && db.undo !== false;
    return [
      ...(undo ? [step('undoContract')] : []),
      ...(options.targetWarm ? [] : [step('startRevision'), step('waitHealthy')]),
      step('switchTraffic'),
      ...(undo ? [step('undoExpand')] : []),
      step('verify'),
    ];
  }
  const expand = db ? [step('migrateExpand')] : [];
  const contract = db?.contract === 'auto' ? [step('migrateContract')] : [];
  if (options.fromNothing)
    return [...expand, step('startRevision'), step('waitHealthy'), step('switchTraffic'), ...contract];
  const traffic = options.canary
    ? options.canary.map((s): Step => {
        if ('setWeight' in s) return step('setWeight', { weight: s.setWeight });
        if ('pause' in s) return step('pause', { durationMs: s.pause });
        return step('analysis', { durationMs: s.analysis });
      })
    : [step('switchTraffic')];
  return [
    ...expand,
    step('startRevision'),
    step('waitHealthy'),
    step('prePromotionChecks'),
    ...traffic,
    step('bake'),
    ...contract,
  ];
}

export function initialState(steps: readonly Step[]): RolloutState {
  return { steps, index: 0, stepStartedAt: null, weight: 0, paused: null, compensation: null };
}

const PHASE_OF_STEP: Record<StepName, RolloutPhase> = {
  startRevision: 'Progressing',
  waitHealthy: 'Progressing',
  prePromotionChecks: 'Progressing',
  setWeight: 'Progressing',
  analysis: 'Progressing',
  pause: 'Paused',
  switchTraffic: 'Promoting',
  verify: 'Promoting',
  bake: 'Baking',
  migrateExpand: 'Progressing',
  migrateContract: 'Baking',
  undoContract: 'Promoting',
  undoExpand: 'Promoting',
};

export function decideNextStep(state: RolloutState): NextStep {
  const comp = state.compensation;
  if (comp) {
    for (let i = comp.index; i >= 0; i--) {
      const s = state.steps[i]!;
      const action = COMPENSATIONS[s.name];
      // Traffic already back on the stable revision needs no second switch.
      if (action === 'switchBack' && state.weight === 0) continue;
      if (action) return { type: 'compensate', step: s, action };
    }
    return { type: 'finish', phase: comp.outcome };
  }
  const s = state.steps[state.index];
  if (s === undefined) return { type: 'finish', phase: 'Completed' };
  if (state.paused) return { type: 'wait', phase: 'Paused' };
  return { type: 'run', step: s, phase: PHASE_OF_STEP[s.name] };
}

/** The state after the current step completed. */
export function stepDone(state: RolloutState, now: number): RolloutState {
  const s = state.steps[state.index];
  const weight =
    s?.name === 'switchTraffic' ? 100 : s?.name === 'setWeight' ? (s.weight ?? state.weight) : state.weight;
  return { ...state, index: state.index + 1, stepStartedAt: now, weight };
}

/** The weight the current step puts in force when it runs (journalled before it is applied). */
export function weightOfStep(state: RolloutState): number {
  const s = state.steps[state.index];
  if (s?.name === 'switchTraffic') return 100;
  if (s?.name === 'setWeight') return s.weight ?? state.weight;
  return state.weight;
}

/**
 * The state after a failure (or an abort) at the current step. Compensation starts with the
 * current step itself, since it may have half-happened (instances started, then one failed).
 * The outcome is RolledBack once traffic had moved, Failed when users never saw the new revision.
 */
export function failAt(state: RolloutState, failure: Failure, now: number): RolloutState {
  if (state.compensation) return state;
  const last = Math.min(state.index, state.steps.length - 1);
  return {
    ...state,
    stepStartedAt: now,
    paused: null,
    compensation: { index: last, failure, outcome: state.weight > 0 ? 'RolledBack' : 'Failed' },
  };
}

/** The state after the compensation `action` of step `compensation.index` (or below) completed. */
export function compensationDone(state: RolloutState, now: number): RolloutState {
  const comp = state.compensation;
  if (!comp) return state;
  const next = decideNextStep(state);
  if (next.type !== 'compensate') return state;
  const i = state.steps.lastIndexOf(next.step, comp.index);
  return {
    ...state,
    stepStartedAt: now,
    weight: next.action === 'switchBack' ? 0 : state.weight,
    compensation: { ...comp, index: i - 1 },
  };
}

export type PromoteResult =
  | { readonly ok: true; readonly state: RolloutState }
  | { readonly ok: false; readonly reason: string };

/**
 * `rewind promote`: end the current pause (or analysis gate) and go on; with `full`, skip every
 * remaining traffic step: all traffic on the new revision, straight to the bake.
 */
export function promote(state: RolloutState, full: boolean, now: number): PromoteResult {
  if (state.compensation) return { ok: false, reason: 'the rollout is rolling back' };
  const current = state.steps[state.index];
  if (!current) return { ok: false, reason: 'the rollout has no step left' };
  if (full) {
    const bake = state.steps.findIndex((s) => s.name === 'bake');
    return {
      ok: true,
      state: {
        ...state,
        paused: null,
        weight: 100,
        index: bake >= 0 ? bake : state.steps.length,
        stepStartedAt: now,
      },
    };
  }
  if (current.name === 'pause' || current.name === 'analysis')
    return { ok: true, state: { ...stepDone(state, now), paused: null } };
  if (state.paused) return { ok: true, state: { ...state, paused: null } };
  return {
    ok: false,
    reason: `the rollout is not paused (it is at step ${current.name}); use --full to skip to 100%`,
  };
}
