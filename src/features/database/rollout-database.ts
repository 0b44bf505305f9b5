// What a rollout asks of an app's database, in the words of its steps. Implemented by
// DatabaseService; the driver sees only this. Failures are data: { ok: false, reason }.
import type { AppSpec } from '../../spec/app-spec.ts';
import type { VerificationCheck } from '../incidents/incident.ts';

/** The app as the database feature needs it: its spec and where its rewind.yaml lives. */
export interface AppEntry {
  readonly spec: AppSpec;
  /** Directory of rewind.yaml: relative paths resolve against it. */
  readonly baseDir: string;
}

export interface RevisionDb {
  readonly number: number;
  readonly version: string;
  readonly migrationLevel: number | null;
}

export type DbStepResult =
  | {
      readonly ok: true;
      readonly detail: string;
      readonly levelBefore: number;
      readonly levelAfter: number;
      readonly data?: unknown;
    }
  | { readonly ok: false; readonly reason: string; readonly data?: unknown };

/**
 * Whose migrations an undo may take back. `rollout`: only those the rollout itself applied (the
 * compensation of its failed deploy). `controller`: those this controller applied (a rollback to
 * an older revision). Anything else stays applied and the result says why.
 */
export type UndoScope = 'rollout' | 'controller';

export interface RolloutDatabase {
  /** Pending expand migrations of the revision's version, under the app's advisory lock. */
  expand(ctx: AppEntry, revision: RevisionDb, rolloutId: string): Promise<DbStepResult>;
  /** Pending contract migrations, each after a backup of the tables it touches. */
  contract(ctx: AppEntry, revision: RevisionDb, rolloutId: string): Promise<DbStepResult>;
  /**
   * Undo applied migrations above `toLevel`, newest first, using the down files recorded when they
   * were applied. `only: 'contract'` stops at the first expand migration.
   */
  undo(
    ctx: AppEntry,
    toLevel: number,
    only: 'contract' | 'all',
    rolloutId: string,
    scope?: UndoScope,
  ): Promise<DbStepResult>;
  /** Verification of the schema at `level` after a rollback: fingerprint, unchanged data, foreign keys. */
  verify(ctx: AppEntry, level: number): Promise<VerificationCheck[]>;
}
