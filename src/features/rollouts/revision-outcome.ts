// What became of each revision, read from the rollouts that carried it: whether it serves, was
// superseded or rolled back after it served, or never served (failed, aborted, rolled back during
// its rollout). `rewind history` shows it; `rewind config diff` uses it to compare a revision with
// the one that served before it rather than with the previous number.
import type { RevisionOutcome } from '../../spec/revision-outcome.ts';
import type { RolloutRecord } from '../../store/types.ts';

/** The fields of a rollout the outcome depends on. */
export type RolloutFacts = Pick<
  RolloutRecord,
  'kind' | 'fromRevision' | 'toRevision' | 'phase' | 'error' | 'createdAt' | 'finishedAt'
>;

/** Set by `abort` (and a rollback during a deploy): the error of a rollout a person stopped. */
const ABORTED = 'aborted:';

/**
 * The outcome of revision `n`, given the app's stable revision and its rollouts (any order);
 * null when no rollout of it is known (older than the rollouts read).
 */
export function revisionOutcome(
  n: number,
  stable: number | null,
  rollouts: readonly RolloutFacts[],
): RevisionOutcome | null {
  if (n === stable) return 'stable';
  const own = newest(rollouts.filter((r) => r.toRevision === n));
  if (!own) return null;
  if (own.finishedAt === null) return 'rolling out';
  if (own.phase === 'Failed') return 'failed';
  if (own.phase === 'RolledBack') return own.error?.startsWith(ABORTED) ? 'aborted' : 'rolled back';
  // Completed: it served until a later rollout moved traffic off it.
  const left = rollouts.some(
    (r) =>
      r.kind === 'rollback' &&
      r.fromRevision === n &&
      r.phase === 'Completed' &&
      r.createdAt >= own.createdAt,
  );
  return left ? 'rolled back' : 'superseded';
}

/** How `rewind config diff` chose the revision it compares with. */
export interface DiffBase {
  readonly from: number;
  /** given: asked for; servedBefore: the stable revision when `to` was rolled out; previous: `to` - 1 (no rollout known). */
  readonly basis: 'given' | 'servedBefore' | 'previous';
}

/**
 * The revision `to` is compared with by default: the one that served when `to` was rolled out
 * (its rollout's fromRevision), not `to` - 1, which may have failed or been rolled back.
 */
export function diffBase(to: number, rollouts: readonly RolloutFacts[], given?: number): DiffBase {
  if (given !== undefined) return { from: given, basis: 'given' };
  const own = newest(rollouts.filter((r) => r.toRevision === to));
  if (own?.fromRevision != null) return { from: own.fromRevision, basis: 'servedBefore' };
  return { from: to - 1, basis: 'previous' };
}

function newest(list: readonly RolloutFacts[]): RolloutFacts | undefined {
  return list.reduce<RolloutFacts | undefined>((a, r) => (a && a.createdAt > r.createdAt ? a : r), undefined);
}
