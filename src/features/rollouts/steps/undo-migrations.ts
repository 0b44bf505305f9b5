// undoContract and undoExpand: a rollback's migrations down to the restored revision's level
// (contract ones before traffic moves, the rest after).
import { DONE, dbEvent, type StepContext, type StepHandler } from './step-context.ts';

function undo(only: 'contract' | 'all') {
  return async (sc: StepContext) => {
    const db = sc.database;
    const level = sc.target.spec.migrationLevel;
    if (!db || !sc.app.spec.database || level === null) return DONE;
    const r = await db.undo(sc.app, level, only, sc.rollout.id);
    // A failed undo does not turn the rollback around: the app is on the restored revision, and
    // the verification (schema fingerprint) escalates the incident.
    await dbEvent(sc, 'database.undone', r);
    return DONE;
  };
}

export const undoContract: StepHandler = {
  describe: ({ target }) => `undoing contract migrations above level ${target.spec.migrationLevel ?? 0}`,
  run: undo('contract'),
};

export const undoExpand: StepHandler = {
  describe: ({ target }) => `undoing migrations above level ${target.spec.migrationLevel ?? 0}`,
  run: undo('all'),
};
