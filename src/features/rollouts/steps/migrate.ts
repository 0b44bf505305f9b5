// migrateExpand and migrateContract: the target's migrations (expand before it takes traffic,
// contract after the bake). An expand is undone back to the level before the rollout.
import { parseRevisionSpec } from '../../revisions/revision-spec.ts';
import { type Compensation, DONE, dbEvent, type StepContext, type StepHandler } from './step-context.ts';

function revisionDb(sc: StepContext) {
  const { target } = sc;
  return { number: target.number, version: target.spec.version, migrationLevel: target.spec.migrationLevel };
}

/** Compensation of migrateExpand: back to the level before the rollout. */
export const undoMigrations: Compensation = {
  action: 'undoMigrations',
  async run(sc) {
    const db = sc.database;
    if (!db || !sc.app.spec.database) return;
    const { rollout } = sc;
    let level = rollout.state.levelBefore;
    if (level === undefined && rollout.fromRevision !== null) {
      const from = await sc.store.revisions.get(rollout.app, rollout.fromRevision);
      level = from ? (parseRevisionSpec(from.spec).migrationLevel ?? undefined) : undefined;
    }
    // The expand never completed and recorded nothing: undo what this rollout may have applied.
    const r = await db.undo(sc.app, level ?? 0, 'all', rollout.id, 'rollout');
    await dbEvent(sc, 'database.undone', r);
  },
};

export const migrateExpand: StepHandler = {
  describe: ({ target }) =>
    `running the expand migrations of ${target.spec.version} (up to level ${target.spec.migrationLevel ?? 0})`,
  async run(sc) {
    const db = sc.database;
    if (!db || !sc.app.spec.database) return DONE;
    const r = await db.expand(sc.app, revisionDb(sc), sc.rollout.id);
    await dbEvent(sc, 'database.expanded', r);
    if (!r.ok) return { status: 'failed', failure: { step: 'migrateExpand', reason: r.reason } };
    return { status: 'done', levelBefore: r.levelBefore };
  },
  compensate: undoMigrations,
};

export const migrateContract: StepHandler = {
  describe: ({ target }) => `running the contract migrations of ${target.spec.version}, each after a backup`,
  async run(sc) {
    const db = sc.database;
    if (!db || !sc.app.spec.database) return DONE;
    const r = await db.contract(sc.app, revisionDb(sc), sc.rollout.id);
    await dbEvent(sc, 'database.contracted', r);
    if (!r.ok) return { status: 'failed', failure: { step: 'migrateContract', reason: r.reason } };
    return DONE;
  },
};
