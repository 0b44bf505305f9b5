// The persisted state machine of one rollout, and the pure decision of what to do next.
import type { RolloutKind, RolloutPhase } from '../../store/types.ts';

export type StepName =
  | 'startRevision'
  | 'waitHealthy'
  | 'prePromotionChecks'
  | 'switchTraffic'
  | 'bake'
  | 'verify';

/** Steps that change something outside and how each is undone. Steps absent here only observe. */
export const COMPENSATIONS: Partial<Record<StepName, 'stopRevision' | 'switchBack'>> = {
  startRevision: 'stopRevision',
  switchTraffic: 'switchBack',
};

export interface Failure {
  readonly step: StepName;
  readonly reason: string;
  /** Last lines the revision printed, when they explain the failure. */
  readonly logs?: readonly string[];
}

export interface RolloutState {
  readonly steps: readonly StepName[];
  /** The step being run; equal to steps.length when all are done. */
  readonly index: number;
  readonly stepStartedAt: number | null;
  /** Share of traffic on the new revision, 0..100. */
  readonly weight: number;
  /** Set once a failure or an abort turned the rollout around. */
  readonly compensation: {
    /** Index of the next step to compensate, counting down; -1 when done. */
    readonly index: number;
    readonly failure: Failure;
    readonly outcome: 'Failed' | 'RolledBack';
  } | null;
}

export type NextStep =
  | { readonly type: 'run'; readonly step: StepName; readonly phase: RolloutPhase }
  | { readonly type: 'compensate'; readonly step: StepName; readonly action: 'stopRevision' | 'switchBack' }
  | { readonly type: 'finish'; readonly phase: 'Completed' | 'Failed' | 'RolledBack' };

export function planSteps(
  kind: RolloutKind,
  options: { readonly targetWarm: boolean; readonly fromNothing: boolean },
): StepName[] {
  if (kind === 'rollback') {
    return options.targetWarm
      ? ['switchTraffic', 'verify']
      : ['startRevision', 'waitHealthy', 'switchTraffic', 'verify'];
  }
  if (options.fromNothing) return ['startRevision', 'waitHealthy', 'switchTraffic'];
  return ['startRevision', 'waitHealthy', 'prePromotionChecks', 'switchTraffic', 'bake'];
}

export function initialState(steps: readonly StepName[]): RolloutState {
  return { steps, index: 0, stepStartedAt: null, weight: 0, compensation: null };
}

const PHASE_OF_STEP: Record<StepName, RolloutPhase> = {
  startRevision: 'Progressing',
  waitHealthy: 'Progressing',
  prePromotionChecks: 'Progressing',
  switchTraffic: 'Promoting',
  verify: 'Promoting',
  bake: 'Baking',
};

export function decideNextStep(state: RolloutState): NextStep {
  const comp = state.compensation;
  if (comp) {
    for (let i = comp.index; i >= 0; i--) {
      const step = state.steps[i]!;
      const action = COMPENSATIONS[step];
      if (action) return { type: 'compensate', step, action };
    }
    return { type: 'finish', phase: comp.outcome };
  }
  const step = state.steps[state.index];
  if (step === undefined) return { type: 'finish', phase: 'Completed' };
  return { type: 'run', step, phase: PHASE_OF_STEP[step] };
}

/** The state after the current step completed. */
export function stepDone(state: RolloutState, now: number): RolloutState {
  const step = state.steps[state.index];
  return {
    ...state,
    index: state.index + 1,
    stepStartedAt: now,
    weight: step === 'switchTraffic' ? 100 : state.weight,
  };
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
    compensation: { index: last, failure, outcome: state.weight > 0 ? 'RolledBack' : 'Failed' },
  };
}

/** The state after the compensation of step `compensation.index` completed. */
export function compensationDone(state: RolloutState, now: number): RolloutState {
  const comp = state.compensation;
  if (!comp) return state;
  let i = comp.index;
  while (i >= 0 && !COMPENSATIONS[state.steps[i]!]) i--;
  const step = state.steps[i];
  return {
    ...state,
    stepStartedAt: now,
    weight: step === 'switchTraffic' ? 0 : state.weight,
    compensation: { ...comp, index: i - 1 },
  };
}
