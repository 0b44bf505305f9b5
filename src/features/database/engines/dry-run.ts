// A dry run of a merge does the reads inside the same transaction as the real one, then throws
// this to roll back anything the engine may have started; the counts travel with it.

import type { MergeCounts } from './types.ts';

export class DryRun extends Error {
  readonly counts: MergeCounts[];
  constructor(counts: MergeCounts[]) {
    super('dry run');
    this.counts = counts;
  }
}

export const emptyCounts = (table: string): MergeCounts => ({
  table,
  recreated: false,
  updated: 0,
  inserted: 0,
  deleted: 0,
  deletedSample: [],
  filled: [],
});

/** Runs fn in a transaction that commits, or rolls back when dryRun; returns fn's counts either way. */
export async function commitUnlessDry(
  transaction: (fn: () => Promise<MergeCounts[]>) => Promise<MergeCounts[]>,
  dryRun: boolean,
  fn: () => Promise<MergeCounts[]>,
): Promise<MergeCounts[]> {
  try {
    return await transaction(async () => {
      const counts = await fn();
      if (dryRun) throw new DryRun(counts);
      return counts;
    });
  } catch (err) {
    if (err instanceof DryRun) return err.counts;
    throw err;
  }
}

/** Fills deferred until after the merge's transaction committed (merge-sql.ts fillInBatches). */
export type LaterFills = { index: number; fill: () => Promise<number> }[];

export async function runLaterFills(counts: MergeCounts[], later: LaterFills): Promise<MergeCounts[]> {
  const out = [...counts];
  for (const l of later)
    out[l.index] = { ...out[l.index]!, updated: out[l.index]!.updated + (await l.fill()) };
  return out;
}
