// A rollout's steps as a list a person reads: what each does, and where the rollout stands.
import type { Rollout, RolloutState, Step } from '../api/types.ts';
import { duration } from '../format.ts';

export function stepLabel(step: Step): string {
  switch (step.name) {
    case 'startRevision':
      return 'Start the new revision';
    case 'waitHealthy':
      return 'Wait until healthy';
    case 'prePromotionChecks':
      return 'Pre-promotion checks';
    case 'setWeight':
      return `Send ${step.weight ?? 0}% of traffic`;
    case 'pause':
      return step.durationMs ? `Pause ${duration(step.durationMs)}` : 'Pause until promoted';
    case 'analysis':
      return step.durationMs ? `Analyse for ${duration(step.durationMs)}` : 'Analyse';
    case 'switchTraffic':
      return 'Switch all traffic';
    case 'bake':
      return 'Bake';
    case 'verify':
      return 'Verify the restored revision';
    case 'migrateExpand':
      return 'Expand migrations';
    case 'migrateContract':
      return 'Contract migrations';
    case 'undoContract':
      return 'Undo contract migrations';
    case 'undoExpand':
      return 'Undo expand migrations';
    default:
      return step.name;
  }
}

/**
 * done: ran; current: running or waiting (a pause); failed: where it turned around; undone: ran,
 * then compensated; skipped: never ran.
 */
export type StepStatus = 'done' | 'current' | 'failed' | 'undone' | 'skipped' | 'pending';

const FINISHED: readonly string[] = ['Completed', 'RolledBack', 'Failed'];

export function stepStatuses(rollout: Pick<Rollout, 'phase'> & { readonly state: unknown }): StepStatus[] {
  const state = rollout.state as RolloutState;
  const finished = FINISHED.includes(rollout.phase);
  return state.steps.map((_, i) => {
    const c = state.compensation;
    if (c) {
      if (i === state.index) return 'failed';
      if (i > state.index) return 'skipped';
      return i > c.index ? 'undone' : 'done';
    }
    if (i < state.index) return 'done';
    if (i === state.index && !finished) return 'current';
    return finished ? 'skipped' : 'pending';
  });
}
