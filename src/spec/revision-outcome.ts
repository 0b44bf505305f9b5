// What became of a revision, as `rewind history` and the API say it: one list for the feature that
// works it out (features/rollouts/revision-outcome.ts) and the API that publishes it.

export const REVISION_OUTCOMES = [
  'stable',
  'rolling out',
  'superseded',
  'rolled back',
  'aborted',
  'failed',
] as const;
export type RevisionOutcome = (typeof REVISION_OUTCOMES)[number];
