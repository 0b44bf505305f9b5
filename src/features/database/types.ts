// The vocabulary of the database feature: migrations as loaded from an app's folder, and what
// the linter says of them. Engines, the migrator, backups and verification build on these.

export type DatabaseEngineName = 'postgres' | 'mysql' | 'sqlite';

/**
 * expand: backward compatible, the running revision keeps working; runs before the new revision
 * takes traffic. contract: destructive or breaking; runs after the rollout is complete and baked.
 */
export type MigrationPhase = 'expand' | 'contract';

export interface Migration {
  /** The NNNN of `NNNN_name.up.sql`, as a number: the migration level it brings. */
  readonly id: number;
  /** `add_email` of `0003_add_email.up.sql`. */
  readonly name: string;
  /** `0003_add_email`: unique, stable, what the ledger records. */
  readonly key: string;
  readonly upPath: string;
  /** null when the folder has no `.down.sql` for it (lint rule missing-down). */
  readonly downPath: string | null;
  readonly upSql: string;
  readonly downSql: string | null;
  /** Statements of the up file, in order, comments kept, terminators removed. */
  readonly upStatements: readonly SqlStatement[];
  readonly downStatements: readonly SqlStatement[];
  /** The phase declared in the header (`-- rewind:phase contract`), or null. */
  readonly declaredPhase: MigrationPhase | null;
  /**
   * Tables the header says the migration changes (`-- rewind:changes orders, users`), or null
   * when not declared; verification leaves these out of the unchanged-data comparison.
   */
  readonly declaredChanges: readonly string[] | null;
  /** sha256 of the up file's bytes, hex; the ledger refuses a changed file that was applied. */
  readonly checksum: string;
}

export interface SqlStatement {
  /** The statement text without its terminator. */
  readonly sql: string;
  /** 1-based line of the file where the statement starts. */
  readonly line: number;
}

export type LintSeverity = 'error' | 'warning';

export interface LintFinding {
  /** Stable rule code, e.g. `RW101`; documented in docs/database-lint.md. */
  readonly code: string;
  /** Short rule name, e.g. `drop-column`. */
  readonly rule: string;
  readonly severity: LintSeverity;
  readonly migration: string;
  /** The file and 1-based line the finding points at. */
  readonly file: string;
  readonly line: number;
  readonly message: string;
  /** The safer way to write it. */
  readonly fix: string;
}

export interface MigrationLint {
  readonly migration: string;
  /** The phase the linter infers from the statements. */
  readonly phase: MigrationPhase;
  readonly declaredPhase: MigrationPhase | null;
  /** The phase the migrator uses: the declared one when given, else the inferred one. */
  readonly effectivePhase: MigrationPhase;
  /** Tables the statements create, alter, drop, write or index. */
  readonly touchedTables: readonly string[];
  readonly findings: readonly LintFinding[];
}
